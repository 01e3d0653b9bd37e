"""The attention page in real Chromium: type a date, see α and the ISO output, step, hard mode,
training snapshots, the bottleneck panel, and the URL restoring the view."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import plot_shapes, screenshot, type_into, url_state, wait_for_plot

pytestmark = pytest.mark.browser


def wait_for_output(page: Any, expected: str) -> None:
    page.wait_for_function(
        """(e) => [...document.querySelectorAll('#output-tokens .tok:not(.special)')]
                 .map(s => s.textContent).join('') === e""",
        arg=expected,
    )


def cursor_row(page: Any) -> float:
    """The row the α heatmap's step cursor outlines (the cursor is the first shape)."""
    shapes = plot_shapes(page, "#alpha")
    rows = [s for s in shapes if s.get("xref") == "paper" and s.get("yref") == "y"]
    assert rows, shapes
    return (rows[0]["y0"] + rows[0]["y1"]) / 2


def test_type_a_date_step_and_restore(page: Any) -> None:
    page.goto("/attention")
    wait_for_plot(page, "#alpha")
    wait_for_output(page, "2026-11-27")  # the default example shows at once

    text = "vendredi 3 mars 1961"
    type_into(page, "#text", text)
    wait_for_output(page, "1961-03-03")
    z = page.evaluate("() => document.querySelector('#alpha').data[0].z")
    assert len(z) == len("1961-03-03") + 1  # + <eos>
    assert all(len(row) == len(text) for row in z)
    assert all(abs(sum(row) - 1) < 2e-3 for row in z)
    assert url_state(page)["text"] == text

    # Step: the highlighted row moves, the URL follows, the equations name the step.
    assert cursor_row(page) == 0
    page.locator("#steps button[aria-label='Next step']").click()
    page.locator("body").press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('t') === '2'")
    assert cursor_row(page) == 2
    assert "step i = 2" in page.locator("#equations").inner_text()
    assert page.locator("#output-tokens .tok.current").inner_text() == "6"
    # c_2 = Σ α h: the bottom row of the terms heatmap is the context the server returned
    terms = page.evaluate("() => document.querySelector('#terms').data[0].z")
    assert len(terms) == len(text) + 1
    wait_for_plot(page, "#top-next")

    # Reload: the URL restores text, model, step.
    page.reload()
    wait_for_plot(page, "#alpha")
    wait_for_output(page, "1961-03-03")
    assert page.locator("#text").input_value() == text
    assert cursor_row(page) == 2
    assert page.locator("#model").input_value() == "dates"


def test_cjk_date_and_unknown_characters(page: Any) -> None:
    page.goto("/attention?text=" + "2026年11月27日")
    wait_for_plot(page, "#alpha")
    wait_for_output(page, "2026-11-27")
    type_into(page, "#text", "27 Nov 2026 \U0001f600")
    page.wait_for_selector("#unknown-note:not([hidden])")
    assert page.locator("#source-tokens .tok.unknown").count() == 1


def test_hard_mode_and_training_snapshots(page: Any) -> None:
    page.goto("/attention?text=27.11.2026")
    wait_for_plot(page, "#alpha")
    wait_for_output(page, "2026-11-27")
    page.locator("#mode-hard").click()
    page.wait_for_selector("#hard-card:not([hidden])")
    wait_for_plot(page, "#hard-outputs")
    assert url_state(page)["mode"] == "hard"
    orange = [s for s in plot_shapes(page, "#alpha") if s.get("xref") == "x" and s.get("yref") == "y"]
    rows = page.evaluate("() => document.querySelector('#alpha').data[0].z.length")
    assert len(orange) == rows  # one sampled position per output step
    counts = page.evaluate("() => document.querySelector('#hard-outputs').data[0].x")
    assert sum(counts) == 20
    page.locator("#runs button[aria-label='Next step']").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('run') === '1'")

    # Back to soft, then the earliest training snapshot: untrained weights, a near-uniform α.
    page.locator("#mode-soft").click()
    page.wait_for_selector("#hard-card", state="hidden")
    page.locator("#snapshot-card").scroll_into_view_if_needed()
    slider = page.locator("#snapshots input[type=range]")
    slider.fill("0")
    page.wait_for_function("() => new URLSearchParams(location.search).get('snap') === '0'")
    page.wait_for_function(
        "() => document.querySelector('#model-note').textContent.includes('training step 1.')"
    )
    z = page.evaluate("() => document.querySelector('#alpha').data[0].z")
    assert max(max(row) for row in z) < 0.5  # before training nothing is attended to sharply
    page.reload()
    wait_for_plot(page, "#alpha")
    page.wait_for_function(
        "() => document.querySelector('#model-note').textContent.includes('training step 1.')"
    )


def test_bottleneck_panel_runs_both_copy_models(page: Any) -> None:
    page.goto("/attention")
    wait_for_plot(page, "#buckets")
    page.locator("#bottleneck-card").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#copy-results .copy-row').length === 2")
    names = page.evaluate(
        "() => [...document.querySelectorAll('#copy-results .copy-row')].map(r => r.dataset.model)"
    )
    assert names == ["copy-attention", "copy-plain"]
    series = page.evaluate("() => document.querySelector('#buckets').data.map(d => d.name)")
    assert "copy-attention: exact match" in series and "copy-plain: exact match" in series
    type_into(page, "#copy-text", "abcde")
    page.wait_for_function(
        "() => document.querySelector('#copy-results .copy-row[data-model=\"copy-attention\"] .badge')"
        ".textContent === 'exact copy'"
    )
    # the URL takes the string once the copy models have answered it
    page.wait_for_function("() => new URLSearchParams(location.search).get('copy') === 'abcde'")
    page.wait_for_function(
        "() => document.querySelector('#copy-results .copy-row[data-model=\"copy-attention\"] .copy-tokens')"
        ".textContent === 'abcde'"
    )
    screenshot(page, "attention")


def test_bad_input_shows_inline_and_page_recovers(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/attention")
    wait_for_plot(page, "#alpha")
    type_into(page, "#text", "1" * 201)
    page.wait_for_selector("#error:not([hidden])")
    message = page.locator("#error").inner_text()
    assert "201" in message and "200" in message
    assert "text" not in url_state(page)  # the URL keeps the input the model last answered (the default)
    type_into(page, "#text", "1 Jan 2000")
    page.wait_for_selector("#error", state="hidden")
    wait_for_output(page, "2000-01-01")


def test_a_link_asking_the_impossible_falls_back(page: Any, watch: Any) -> None:
    """Hard mode on a model without attention, or a snapshot it does not have: the page says why
    not by falling back (soft, final weights) instead of showing nothing."""
    watch.allow_status(422)
    page.goto("/attention?model=copy-plain&mode=hard&snap=42&text=abcdef")
    wait_for_plot(page, "#alpha")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('mode')")
    assert page.locator("#error").is_hidden()
    assert page.locator("#mode-hard").is_disabled()
    assert page.locator("#heatmap-title").inner_text() == "No attention: the fixed vector C"
    assert "snap" not in url_state(page)
