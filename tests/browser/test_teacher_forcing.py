"""The teacher-forcing page in real Chromium: the classic example preloaded, both lanes rendered,
an injected error that changes the free-running lane only after its step, the URL restoring the
view, the ratio comparison and the training curves."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import plot_data, screenshot, type_into, url_state, wait_for_plot

pytestmark = pytest.mark.browser


def lane(page: Any, name: str, row: str) -> list[str]:
    """The cells of one lane row ("fed" or "out"), step by step."""
    return page.evaluate(
        """([name, row]) => [...document.querySelectorAll(`#lanes tr.lane.${name} td.tok.${row}`)]
                 .map(td => td.textContent)""",
        [name, row],
    )


def wait_for_lanes(page: Any) -> None:
    page.wait_for_function("() => document.querySelectorAll('#lanes tr.lane.free td.tok.out').length > 0")


def wait_for_url(page: Any, key: str, value: str | None) -> None:
    page.wait_for_function("([k, v]) => new URLSearchParams(location.search).get(k) === v", arg=[key, value])


def test_classic_example_inject_and_restore(page: Any) -> None:
    page.goto("/teacher-forcing")
    wait_for_lanes(page)
    wait_for_plot(page, "#loss")

    # 1. The classic example is the first view: input abcefgh, the wrong 's' injected at step 3,
    #    so step 4 reads 's' when free running and the gold 'c' under teacher forcing.
    assert page.locator("#text").input_value() == "abcefgh"
    teacher_fed = lane(page, "teacher", "fed")
    assert teacher_fed == ["<bos>", *"abcefgh"]
    free_fed, free_out = lane(page, "free", "fed"), lane(page, "free", "out")
    assert free_out[2] == "s" and free_fed[3] == "s" and teacher_fed[3] == "c"
    assert page.locator("#lanes tr.lane.free td.injected").count() == 1
    assert page.locator("#lanes tr.lane.free td.fed.diverged").first.get_attribute("data-i") == "3"
    assert "Injected at step 3" in page.locator("#inject-note").inner_text()
    names = [d["name"] for d in plot_data(page, "#loss")]
    assert names == ["teacher forcing", "free running"]
    assert len(lane(page, "teacher", "out")) == 8  # 7 symbols + <eos>

    # 2. Remove the error: the free run is the model's own; then inject one by clicking a cell.
    page.locator("#inject-clear").click()
    page.wait_for_function("() => document.querySelectorAll('#lanes td.injected').length === 0")
    assert url_state(page).get("inj") == "-1"
    teacher_before = (lane(page, "teacher", "fed"), lane(page, "teacher", "out"))
    fed_before, out_before = lane(page, "free", "fed"), lane(page, "free", "out")
    loss_before = plot_data(page, "#loss")
    s = 4  # step 5 writes 'f'
    page.locator(f"#lanes tr.lane.free td.injectable[data-i='{s}']").click()
    page.wait_for_selector("#inject-menu:not([hidden])")
    token = next(t for t in "abcdefghijklmnopqrst" if t not in (out_before[s], "abcefgh"[s]))
    page.locator(f"#inject-menu button[data-token='{token}']").click()
    wait_for_url(page, "inj", str(s))
    page.wait_for_function(
        "(s) => !!document.querySelector(`#lanes tr.lane.free td.injected[data-i='${s}']`)", arg=s
    )
    fed_after, out_after = lane(page, "free", "fed"), lane(page, "free", "out")
    assert fed_after[: s + 1] == fed_before[: s + 1] and out_after[:s] == out_before[:s]  # before: unchanged
    assert out_after[s] == token and fed_after[s + 1] == token != fed_before[s + 1]  # after: changed
    assert (lane(page, "teacher", "fed"), lane(page, "teacher", "out")) == teacher_before
    assert url_state(page)["tok"] == token
    page.wait_for_function("(s) => document.querySelector('#loss').data[1].y[s + 1] !== undefined", arg=s)
    loss = plot_data(page, "#loss")  # [teacher, free]: per-step loss
    assert loss[0]["y"] == loss_before[0]["y"]
    assert loss[1]["y"][: s + 1] == loss_before[1]["y"][: s + 1]
    assert loss[1]["y"][s + 1] != loss_before[1]["y"][s + 1]

    # 3. The URL restores the view: the injection, the token and the step.
    page.locator("#steps button[aria-label='Next step']").click()
    wait_for_url(page, "t", str(s + 2))
    page.reload()
    wait_for_lanes(page)
    page.wait_for_function(
        "(s) => !!document.querySelector(`#lanes tr.lane.free td.injected[data-i='${s}']`)", arg=s
    )
    assert lane(page, "free", "out") == out_after and lane(page, "free", "fed") == fed_after
    assert page.locator("#lanes td.current[data-i]").first.get_attribute("data-i") == str(s + 2)
    assert page.locator("#inject-token").input_value() == token


def test_ratio_panel_and_training_curves(page: Any) -> None:
    page.goto("/teacher-forcing")
    wait_for_lanes(page)
    page.locator("#ratios-card").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#ratio-results .copy-row').length >= 3")
    rows = page.evaluate(
        "() => [...document.querySelectorAll('#ratio-results .copy-row')].map(r => r.dataset.model)"
    )
    assert rows[:3] == ["copy-tf-1.0", "copy-tf-0.5", "copy-tf-0.0"]
    # every row shows the injected 's' at step 3
    assert page.locator("#ratio-results .tok.injected").count() == len(rows)
    wait_for_plot(page, "#curve-loss")
    wait_for_plot(page, "#buckets")
    wait_for_plot(page, "#recovery")
    series = [d["name"] for d in plot_data(page, "#curve-loss")]
    assert series[:3] == ["copy-tf-1.0", "copy-tf-0.5", "copy-tf-0.0"]
    train_y = plot_data(page, "#curve-loss")[0]["y"]
    page.locator("#training-card button[data-loss='free']").click()
    wait_for_url(page, "loss", "free")
    assert plot_data(page, "#curve-loss")[0]["y"] != train_y
    assert "31–40" in page.locator("#tradeoff").inner_text()
    screenshot(page, "teacher-forcing")


def test_bad_input_shows_inline_and_the_page_recovers(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/teacher-forcing?inj=-1")
    wait_for_lanes(page)
    type_into(page, "#text", "abcxyz")
    page.wait_for_selector("#error:not([hidden])")
    assert "'x'" in page.locator("#error").inner_text()
    type_into(page, "#text", "hcadqbbtqsrk")
    page.wait_for_selector("#error", state="hidden")
    page.wait_for_function(
        "() => document.querySelectorAll('#lanes tr.lane.teacher td.tok.out').length === 13"
    )


def test_a_link_whose_injection_no_longer_fits_drops_it_and_says_so(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/teacher-forcing?text=abc&inj=40&tok=s")
    wait_for_lanes(page)
    wait_for_url(page, "inj", "-1")
    assert "removed" in page.locator("#inject-note").inner_text()
    assert page.locator("#error").is_hidden()
