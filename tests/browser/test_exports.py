"""Plots in real Chromium: an offline toolbar, slide-ready exports, and every token labelled.

- The modebar holds only buttons that work offline, and no plot may send its chart anywhere.
- A PNG export is named page-plot-model-input-step (two views never share a name) and the image is
  titled with the lesson, the quantity and the input.
- A heatmap labels every token of a long input (55 characters on /attention, 80 on /lstm), and its
  hover names the token under the pointer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.helpers import wait_for_plot

pytestmark = pytest.mark.browser

OFFLINE_BUTTONS = {
    "Zoom",
    "Pan",
    "Zoom in",
    "Zoom out",
    "Reset axes",
    "Download plot as PNG (titled, for slides)",
    "Download plot as SVG (titled, for slides)",
}

# The tick labels of a plot's x axis: the labels Plotly drew, whether any two overlap, the columns.
X_TICKS = """(sel) => { const gd = document.querySelector(sel);
  const texts = [...gd.querySelectorAll('.xtick text')];
  const boxes = texts.map((t) => t.getBoundingClientRect());
  let overlaps = 0;
  for (let i = 1; i < boxes.length; i++) if (boxes[i].left < boxes[i - 1].right - 0.5) overlaps++;
  return { drawn: texts.map((t) => t.textContent), overlaps, columns: gd.data[0].z[0].length,
           size: gd._fullLayout.xaxis.tickfont.size }; }"""


def test_the_toolbar_works_offline(page: Any) -> None:
    page.goto("/attention")
    wait_for_plot(page, "#alpha")
    titles = set(page.eval_on_selector_all(".modebar-btn", "(bs) => bs.map((b) => b.dataset.title)"))
    assert titles <= OFFLINE_BUTTONS, titles - OFFLINE_BUTTONS
    config = page.evaluate(
        """() => { const c = document.querySelector('#alpha')._context;
             return { cloud: c.showSendToCloud, server: c.plotlyServerURL, logo: c.displaylogo }; }"""
    )
    assert config == {"cloud": False, "server": "", "logo": False}


def export_png(page: Any, selector: str) -> Any:
    page.locator(selector).scroll_into_view_if_needed()
    page.locator(selector).hover()
    with page.expect_download() as download:
        page.locator(f"{selector} .modebar-btn[data-title^='Download plot as PNG']").click()
    return download.value


def test_exports_are_named_after_the_view_and_titled(page: Any, tmp_path: Any) -> None:
    page.goto("/attention?text=vendredi%2027%20novembre%202026")
    wait_for_plot(page, "#alpha")
    first = export_png(page, "#alpha")
    assert first.suggested_filename == "attention-attention-dates-vendredi-27-novembre-2026-step0.png"
    saved = tmp_path / first.suggested_filename
    first.save_as(saved)
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.locator("body").press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('t') === '1'")
    assert export_png(page, "#alpha").suggested_filename.endswith("-step1.png")  # another step, another name
    assert export_png(page, "#top-next").suggested_filename.startswith("attention-top5-dates-vendredi")
    info = page.evaluate(
        "async () => (await import('/static/js/plots.js')).exportInfo(document.querySelector('#alpha'))"
    )
    assert info["title"] == "Seq2Seq & attention: Attention weights heatmap"
    assert "model dates" in info["subtitle"] and "input “vendredi 27 novembre 2026”" in info["subtitle"]
    assert "output step 1" in info["subtitle"]


def test_a_55_character_input_labels_every_column(page: Any) -> None:
    text = "Le vendredi vingt-sept novembre deux mille vingt-six ok"
    assert len(text) == 55
    page.goto(f"/attention?text={quote(text)}")
    wait_for_plot(page, "#alpha")
    ticks = page.evaluate(X_TICKS, "#alpha")
    assert ticks["columns"] == 55
    assert ticks["drawn"] == [("␣" if c == " " else c) for c in text]
    assert ticks["overlaps"] == 0 and ticks["size"] >= 8


def test_an_80_character_lstm_input_labels_every_step_and_the_hover_names_it(page: Any) -> None:
    text = "To be, or not to be, that is the question: whether 'tis nobler in the mind to su"
    assert len(text) == 80
    page.goto(f"/lstm?text={quote(text)}")
    page.wait_for_function("() => document.querySelector('#hm-forget')?.data?.[0]?.z?.[0]?.length === 80")
    ticks = page.evaluate(X_TICKS, "#hm-forget")
    assert len(ticks["drawn"]) == 80 and ticks["overlaps"] == 0
    assert "".join(ticks["drawn"]).replace("␣", " ") == text
    x, y = page.evaluate(
        """() => { const gd = document.querySelector('#hm-forget'); const L = gd._fullLayout;
             gd.scrollIntoView(); const box = gd.getBoundingClientRect();
             return [box.left + L._size.l + L.xaxis.l2p(17) - gd.scrollLeft,
                     box.top + L._size.t + L.yaxis.l2p(5)]; }"""
    )
    page.mouse.move(x, y)
    page.wait_for_selector("#hm-forget .hoverlayer text")
    hover = page.eval_on_selector_all("#hm-forget .hoverlayer text", "(ts) => ts.map((t) => t.textContent)")
    assert f"step 17 “{text[17]}”" in " ".join(hover), hover
