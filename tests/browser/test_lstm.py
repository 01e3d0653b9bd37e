"""The LSTM gate explorer in real Chromium: type, six heatmaps, step, click to select, URL restore."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.helpers import click_heatmap_cell, screenshot, type_into, url_state, wait_for_plot

pytestmark = pytest.mark.browser
QUANTITIES = ("forget", "input", "candidate", "output", "cell", "hidden")


def fmt4(x: float) -> str:
    """The page's number format (ui.js fmt) for values in the usual range."""
    return f"{float(f'{x:.4g}'):g}" if 1e-4 <= abs(x) < 1e5 or x == 0 else f"{x:.3e}"


def equations(page: Any) -> str:
    return page.locator("#equations").inner_text()


def test_type_step_select_and_restore(page: Any, base_url: str) -> None:
    page.goto("/lstm")
    wait_for_plot(page, "#hm-hidden")
    text = "KING.\nNow is the winter of our discontent"
    type_into(page, "#text", text)
    page.wait_for_function(
        "(n) => document.querySelector('#hm-forget').data[0].z[0].length === n", arg=len(text)
    )
    for q in QUANTITIES:
        wait_for_plot(page, f"#hm-{q}")
        z = page.evaluate(f"document.querySelector('#hm-{q}').data[0].z")
        assert len(z) == 128 and len(z[0]) == len(text), q

    trace = httpx.post(
        base_url + "/api/lstm/trace", json={"model": "shakespeare-char", "text": text, "unit": 0}
    ).json()
    layer = trace["layers"][0]

    # Step with the keyboard and the buttons: the equations show the trace's numbers at that step.
    page.locator("#steps button[aria-label='Next step']").click()
    page.locator("#steps button[aria-label='Next step']").click()
    page.locator("body").press("ArrowRight")
    assert url_state(page)["t"] == "3"
    eq = equations(page)
    assert "step t = 3" in eq
    for q in ("forget", "input", "candidate", "output", "cell", "hidden"):
        assert fmt4(layer[q][3][0]) in eq, (q, layer[q][3][0], eq)
    assert fmt4(trace["detail"]["pre"]["forget"][3]) in eq

    # Click a heatmap cell: unit 17 at step 10 is selected, its breakdown arrives.
    click_heatmap_cell(page, "#hm-cell", 10, 17)
    page.wait_for_function(
        "() => document.querySelector('#equations').innerText.includes('unit j = 17, step t = 10')"
    )
    state = url_state(page)
    assert state["unit"] == "17" and state["t"] == "10"
    unit_trace = httpx.post(
        base_url + "/api/lstm/trace", json={"model": "shakespeare-char", "text": text, "unit": 17}
    ).json()
    page.wait_for_function(
        "(v) => document.querySelector('#equations').innerText.includes(v)",
        arg=fmt4(unit_trace["detail"]["pre"]["output"][10]),
    )
    assert fmt4(layer["cell"][10][17]) in equations(page)
    assert page.locator("#unit-title").inner_text() == "17"
    assert page.locator("#diagram svg").count() == 1

    # The URL restores the same view after a reload.
    before = equations(page)
    page.reload()
    wait_for_plot(page, "#hm-hidden")
    page.wait_for_function(
        "() => document.querySelector('#equations').innerText.includes('unit j = 17, step t = 10')"
    )
    assert page.locator("#text").input_value() == text
    page.wait_for_function("(b) => document.querySelector('#equations').innerText === b", arg=before)
    screenshot(page, "lstm")


def test_bad_input_shows_inline_and_page_recovers(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/lstm")
    wait_for_plot(page, "#hm-hidden")
    type_into(page, "#text", "x" * 2001)
    page.wait_for_function("() => document.querySelector('#error').innerText.includes('2001')")
    assert "2000" in page.locator("#error").inner_text()
    assert "text" not in url_state(page)  # the heatmaps still show the default text, and so does the URL
    type_into(page, "#text", "ok again 😀")
    page.wait_for_selector("#error", state="hidden")
    page.wait_for_function("() => document.querySelector('#hm-forget').data[0].z[0].length === 10")
    assert page.locator("#unknown-note").is_visible()
    assert page.locator(".tokens .tok.unknown").count() == 1
