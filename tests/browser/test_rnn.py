"""The RNN cell page in real Chromium: type, step, the equation numbers change, select, URL restore."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.helpers import (
    click_heatmap_cell,
    plot_data,
    screenshot,
    type_into,
    url_state,
    wait_for_plot,
)

pytestmark = pytest.mark.browser
TEXT = "C3141?"


def fmt4(x: float) -> str:
    """The page's number format (ui.js fmt): 4 significant digits, JS-style exponents."""
    if 1e-4 <= abs(x) < 1e5 or x == 0:
        return f"{float(f'{x:.4g}'):g}"
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{x:.3e}")


def cell_equations(page: Any) -> str:
    return page.locator("#eq-cell").inner_text()


def trace(base_url: str, unit: int) -> Any:
    body = {"model": "recall-rnn", "text": TEXT, "delay": 5, "unit": unit}
    return httpx.post(base_url + "/api/rnn/trace", json=body).json()


def test_step_select_and_restore(page: Any, base_url: str) -> None:
    page.goto("/rnn")
    wait_for_plot(page, "#hm-hidden")
    type_into(page, "#text", TEXT)
    page.wait_for_function(
        "(n) => document.querySelector('#hm-hidden').data[0].z[0].length === n", arg=len(TEXT)
    )
    tr = trace(base_url, 0)
    H = tr["hidden_size"]
    assert len(plot_data(page, "#hm-hidden")[0]["z"]) == H

    # It opens at the last step, the "?", where the answer is given.
    page.wait_for_function("() => document.querySelector('#eq-cell').innerText.includes('step t = 5')")
    assert fmt4(tr["hidden"][5][0]) in cell_equations(page)

    # Step back with the button and the keyboard: the equations show that step's numbers.
    page.locator("#steps button[aria-label='Previous step']").click()
    page.locator("body").press("ArrowLeft")
    assert url_state(page)["t"] == "3"
    eq = cell_equations(page)
    assert "step t = 3" in eq and "one-hot of “4”" in eq
    for key in ("hidden", "recurrent", "from_input"):
        assert fmt4(tr[key][3][0]) in eq, (key, tr[key][3][0], eq)
    before = eq
    page.locator("body").press("ArrowRight")
    page.wait_for_function("(b) => document.querySelector('#eq-cell').innerText !== b", arg=before)
    assert fmt4(tr["hidden"][4][0]) in cell_equations(page)
    neuron = page.locator("#eq-neuron").inner_text()
    assert fmt4(tr["without_memory"][4][0]) in neuron and fmt4(tr["detail"]["w_ih"][tr["ids"][4]]) in neuron
    # The output stage shows y_t at this step.
    bars = plot_data(page, "#output-bars")[0]["x"]
    assert bars == pytest.approx(tr["probs"][4], abs=1e-6)

    # Click a heatmap cell: unit 7 at step 2 is selected and its weight rows arrive.
    click_heatmap_cell(page, "#hm-hidden", 2, 7)
    page.wait_for_function(
        "() => document.querySelector('#eq-cell').innerText.includes('unit j = 7, step t = 2')"
    )
    state = url_state(page)
    assert state["unit"] == "7" and state["t"] == "2"
    tr7 = trace(base_url, 7)
    page.wait_for_function(
        "(v) => document.querySelector('#eq-cell').innerText.includes(v)",
        arg=fmt4(tr7["detail"]["w_ih"][tr7["ids"][2]]),
    )
    assert fmt4(tr7["hidden"][2][7]) in cell_equations(page)
    strip = plot_data(page, "#concat-strip")[0]["z"][0]
    assert strip[:H] == pytest.approx(tr7["hidden"][1], abs=1e-6)  # [h_{t−1}, x_t]: h part
    assert strip[H + tr7["ids"][2]] == 1 and sum(strip[H:]) == 1  # x part: one-hot

    # The URL restores the same view after a reload.
    before = cell_equations(page)
    page.reload()
    wait_for_plot(page, "#hm-hidden")
    page.wait_for_function("(b) => document.querySelector('#eq-cell').innerText === b", arg=before)
    assert page.locator("#text").input_value() == TEXT
    screenshot(page, "rnn")


def test_bad_input_shows_inline_and_page_recovers(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/rnn")
    wait_for_plot(page, "#hm-hidden")
    type_into(page, "#text", "7" * 2001)
    page.wait_for_selector("#error:not([hidden])")
    page.wait_for_function("() => document.querySelector('#error').innerText.includes('2001')")
    assert "2000" in page.locator("#error").inner_text()
    type_into(page, "#text", "A12 😀?")
    page.wait_for_selector("#error", state="hidden")
    page.wait_for_function("() => document.querySelector('#hm-hidden').data[0].z[0].length === 6")
    assert page.locator("#unknown-note").is_visible()
