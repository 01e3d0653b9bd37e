"""The beam page in real Chromium: type an idioms sentence, step through the tree (it grows every
step), greedy and beam disagree, the width re-renders, the URL restores the view, the undertrained
dates snapshot, and bad input shown inline."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import plot_data, screenshot, type_into, url_state, wait_for_plot

pytestmark = pytest.mark.browser


def wait_for_outputs(page: Any, greedy_text: str | None = None, beam_text: str | None = None) -> None:
    page.wait_for_function(
        """([g, b]) => {
             const gt = document.querySelector('#out-greedy .out-text').textContent;
             const bt = document.querySelector('#out-beam .out-text').textContent;
             return gt && bt && (g === null || gt === g) && (b === null || bt === b);
           }""",
        arg=[greedy_text, beam_text],
    )


def visible_nodes(page: Any) -> int:
    return int(page.evaluate("() => document.querySelector('#tree').data.at(-1).x.length"))


def current_step(page: Any) -> int:
    return int(page.evaluate("() => Number(document.querySelector('#tree').dataset.step)"))


def test_step_through_the_beam_tree_and_restore(page: Any) -> None:
    page.goto("/beam")
    wait_for_plot(page, "#tree")
    wait_for_outputs(page)

    type_into(page, "#text", "hablar comer")
    wait_for_outputs(page, beam_text="talk eat")
    greedy_text = page.locator("#out-greedy .out-text").inner_text()
    beam_text = page.locator("#out-beam .out-text").inner_text()
    assert greedy_text.startswith("have-a") and greedy_text != beam_text  # greedy took the idiom head
    assert "true P = 0.16" in page.locator("#out-beam").inner_text()
    assert page.locator("#out-true .out-text").inner_text() == "talk eat"
    assert url_state(page)["text"] == "hablar comer"

    # Step from the first expansion to the last: the tree grows at every step.
    last = current_step(page)
    assert last >= 3
    page.locator("#steps input[type=range]").fill("0")
    page.wait_for_function("() => document.querySelector('#tree').dataset.step === '0'")
    counts = [visible_nodes(page)]
    for t in range(1, last + 1):
        page.locator("#steps button[aria-label='Next step']").click()
        page.wait_for_function("(t) => document.querySelector('#tree').dataset.step === String(t)", arg=t)
        counts.append(visible_nodes(page))
        assert page.locator("#cand-title").inner_text().startswith(f"Step {t}:")
    assert all(b > a for a, b in zip(counts, counts[1:], strict=False)), counts
    # The side panel ranks the step's candidates with the cut after the k-th.
    rows = page.locator("#cand-table tbody tr")
    assert rows.nth(5).get_attribute("class") == "cut"
    assert "the best k = 5" in rows.nth(5).inner_text()
    # Greedy's path is drawn over the tree (orange edges).
    data = plot_data(page, "#tree")
    assert any(d.get("line", {}).get("color") == "#D55E00" for d in data[:-1])

    page.locator("#steps button[aria-label='Previous step']").click()
    page.wait_for_function("(t) => new URLSearchParams(location.search).get('t') === String(t)", arg=last - 1)
    at_step = visible_nodes(page)

    # Width 3 re-runs the search and redraws.
    type_into(page, "#width", "3")
    page.wait_for_function("() => new URLSearchParams(location.search).get('k') === '3'")
    page.wait_for_function("() => document.querySelector('#out-beam h3').textContent.includes('k = 3')")
    page.wait_for_function(
        "() => document.querySelectorAll('#cand-table tbody tr.kept, #cand-table tbody tr.finished')"
        ".length <= 3"
    )
    first = page.evaluate("() => document.querySelector('#cand-table tbody tr').textContent")
    assert first
    k3_nodes = visible_nodes(page)
    k3_step = current_step(page)
    assert k3_nodes != at_step or k3_step != last - 1

    # Reload: the URL restores text, width and step.
    page.locator("#steps input[type=range]").fill("2")
    page.wait_for_function("() => new URLSearchParams(location.search).get('t') === '2'")
    before = visible_nodes(page)
    page.reload()
    wait_for_plot(page, "#tree")
    page.wait_for_function("() => document.querySelector('#tree').dataset.step === '2'")
    assert page.locator("#text").input_value() == "hablar comer"
    assert page.locator("#width").input_value() == "3"
    assert visible_nodes(page) == before
    screenshot(page, "beam")


def test_undertrained_dates_snapshot_beam_fixes_greedy(page: Any) -> None:
    page.goto("/beam?model=dates")
    wait_for_plot(page, "#tree")
    page.get_by_role("button", name="28/10/2006 (undertrained, step 168)").click()
    wait_for_outputs(page, greedy_text="2006-01-28", beam_text="2006-10-28")
    assert url_state(page)["snap"] == "5"
    assert page.locator("#snapshot").input_value() == "5"
    assert "training step 168" in page.locator("#model-note").inner_text()
    assert page.locator("#out-true").is_hidden()  # no grammar for dates
    # The final weights get it right both ways.
    page.locator("#snapshot").select_option("-1")
    wait_for_outputs(page, greedy_text="2006-10-28", beam_text="2006-10-28")


def test_bad_input_shows_inline_and_the_page_recovers(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/beam")
    wait_for_plot(page, "#tree")
    type_into(page, "#width", "17")
    page.wait_for_selector("#error:not([hidden])")
    message = page.locator("#error").inner_text()
    assert "17" in message and "16" in message
    type_into(page, "#width", "4")
    page.wait_for_selector("#error", state="hidden")
    page.wait_for_function("() => document.querySelector('#out-beam h3').textContent.includes('k = 4')")
    type_into(page, "#text", "mirar volar")
    page.wait_for_selector("#unknown-note:not([hidden])")
    assert "volar" in page.locator("#unknown-note").inner_text()
    assert page.locator("#out-true").is_hidden()
