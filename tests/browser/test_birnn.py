"""The BiRNN page in real Chromium: type a blank, three prediction lists, two state streams, stepping
moves the two cursors in opposite directions, the URL restores the view, bad input shows inline."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.helpers import plot_data, plot_shapes, screenshot, type_into, url_state, wait_for_plot

pytestmark = pytest.mark.browser
TEXT = "Now is the winter of our disc_ntent"
VISIBLE = {" ": "\u2423", "\n": "\u21b5"}  # how the page labels space and newline (ui.js visibleChar)


def cursor_x(page: Any, selector: str) -> float:
    """Centre of the step cursor (the first shape of a stream heatmap)."""
    shape = plot_shapes(page, selector)[0]
    return (shape["x0"] + shape["x1"]) / 2


def arrow(page: Any, selector: str) -> tuple[float, float]:
    """(tail, head) x positions of the direction arrow drawn over a stream heatmap."""
    (a,) = page.evaluate(
        "(sel) => JSON.parse(JSON.stringify(document.querySelector(sel).layout.annotations))", selector
    )
    return a["ax"], a["x"]


def wait_for_text(page: Any, length: int) -> None:
    page.wait_for_function(
        "(n) => { const el = document.querySelector('#hm-backward');"
        " return el && el.data && el.data[0].z[0].length === n; }",
        arg=length,
    )


def test_type_step_and_restore(page: Any, base_url: str) -> None:
    page.goto("/birnn")
    wait_for_plot(page, "#hm-forward")
    type_into(page, "#text", TEXT)
    wait_for_text(page, len(TEXT))
    T, b = len(TEXT), TEXT.index("_")
    api = httpx.post(base_url + "/api/birnn/cloze", json={"model": "cloze-bi", "text": TEXT}).json()
    H = api["hidden_size"]

    # 1. Three ranked prediction lists, with the server's tokens and probabilities.
    for key in ("bi", "fwd", "bwd"):
        wait_for_plot(page, f"#pred-{key}")
        (bars,) = plot_data(page, f"#pred-{key}")
        expected = api["predictions"][key]
        assert len(bars["x"]) == 10
        assert bars["x"] == [p["prob"] for p in expected]
        assert bars["y"] == [f"“{VISIBLE.get(p['token'], p['token'])}”" for p in expected]
    assert api["predictions"]["bi"][0]["token"] in page.locator("#filled").inner_text()

    # 2. Both state heatmaps: H units × T characters, the server's numbers.
    for side in ("forward", "backward"):
        z = plot_data(page, f"#hm-{side}")[0]["z"]
        assert len(z) == H and len(z[0]) == T
        assert [row[b] for row in z] == api[side]["hidden"][b]
    assert plot_data(page, "#concat")[0]["z"] == [api["concat"]]

    # 3. Stepping: the forward cursor moves right while the backward cursor moves left.
    assert cursor_x(page, "#hm-forward") == T - 1 and cursor_x(page, "#hm-backward") == 0  # the end
    page.locator("#steps input[type=range]").fill("5")
    page.wait_for_function("() => new URLSearchParams(location.search).get('s') === '5'")
    assert cursor_x(page, "#hm-forward") == 5 and cursor_x(page, "#hm-backward") == T - 1 - 5
    page.locator("#steps button[aria-label='Next step']").click()
    page.locator("body").press("ArrowRight")
    assert url_state(page)["s"] == "7"
    fwd, bwd = cursor_x(page, "#hm-forward"), cursor_x(page, "#hm-backward")
    assert (fwd, bwd) == (7, T - 1 - 7)
    assert arrow(page, "#hm-forward") == (-0.5, 7) and arrow(page, "#hm-backward") == (T - 0.5, T - 1 - 7)
    page.locator("body").press("ArrowLeft")
    assert (cursor_x(page, "#hm-forward"), cursor_x(page, "#hm-backward")) == (6, T - 1 - 6)
    assert page.locator("#reading .cell.fwd-cursor").get_attribute("data-t") == "6"
    assert page.locator("#reading .cell.bwd-cursor").get_attribute("data-t") == str(T - 1 - 6)
    # At step 6 the backward pass has read the blank (character 29, at step 5), the forward one not yet.
    assert "not complete" in page.locator("#concat-note").inner_text()

    # Clicking a backward heatmap cell moves the BACKWARD cursor to that character.
    page.locator("#quantity").select_option("cell")
    for side in ("forward", "backward"):  # both streams redrawn with the cell state
        page.wait_for_function(
            "(sel) => document.querySelector(sel).layout.title.text.includes('cell state')", arg=f"#hm-{side}"
        )
    assert plot_data(page, "#hm-backward")[0]["z"][11] == [row[11] for row in api["backward"]["cell"]]
    click_cell(page, "#hm-backward", 20, 11)
    page.wait_for_function("() => new URLSearchParams(location.search).get('unit') === '11'")
    assert cursor_x(page, "#hm-backward") == 20 and cursor_x(page, "#hm-forward") == T - 1 - 20
    assert page.locator("#unit-title").inner_text() == "11"
    unit_lines = plot_data(page, "#unit-chart")
    assert unit_lines[0]["y"] == [row[11] for row in api["forward"]["cell"]]
    assert unit_lines[1]["y"] == [row[11] for row in api["backward"]["cell"]]

    # 4. The URL restores the view after a reload.
    state = url_state(page)
    assert state["q"] == "cell" and state["s"] == str(T - 1 - 20)
    page.reload()
    wait_for_text(page, T)
    assert page.locator("#text").input_value() == TEXT
    assert page.locator("#quantity").input_value() == "cell"
    assert cursor_x(page, "#hm-backward") == 20 and cursor_x(page, "#hm-forward") == T - 1 - 20
    assert page.locator("#unit-title").inner_text() == "11"
    assert page.locator("#accuracy-table tbody tr").count() == 3
    screenshot(page, "birnn")


def click_cell(page: Any, selector: str, step: int, unit: int) -> None:
    """Click the pixel of heatmap cell (step, unit) using Plotly's own axis mapping."""
    page.locator(selector).scroll_into_view_if_needed()
    x, y = page.evaluate(
        """([sel, step, unit]) => { const gd = document.querySelector(sel); const L = gd._fullLayout;
             const box = gd.getBoundingClientRect();
             return [box.left + L._size.l + L.xaxis.l2p(step), box.top + L._size.t + L.yaxis.l2p(unit)]; }""",
        [selector, step, unit],
    )
    page.mouse.click(round(x), round(y))  # whole pixels: a row is under 2 px tall, a fraction is lost


def test_no_blank_or_two_blanks_show_inline_and_recover(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/birnn")
    wait_for_plot(page, "#hm-forward")
    type_into(page, "#text", "no blank at all")
    # Waiting for the message itself: clearing the box first may briefly show "type a text" instead.
    page.wait_for_function("() => document.querySelector('#error').innerText.includes('no blank')")
    assert page.locator("#error").is_visible()
    type_into(page, "#text", "tw_ bl_nks")
    page.wait_for_function("() => document.querySelector('#error').innerText.includes('2 blanks')")
    type_into(page, "#text", "fine ag_in 😀")
    page.wait_for_selector("#error", state="hidden")
    wait_for_text(page, len("fine ag_in 😀"))
    assert page.locator("#unknown-note").is_visible()
    assert page.locator("#reading .cell.unknown").count() == 1
