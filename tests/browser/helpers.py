"""Helpers for browser tests: type, wait for plots, read URL state, take screenshots.

The pages run under a strict CSP (no eval), so ``page.wait_for_function`` must get a function
("() => ..." or "(arg) => ..."), never a bare expression string, which Playwright would eval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

SCREENSHOTS = Path(__file__).parent / "screenshots"


def type_into(page: Any, selector: str, text: str, *, delay: float = 0) -> None:
    """Type like a user: replace the input's text in one input event (or key by key with ``delay``),
    so debounced handlers fire."""
    box = page.locator(selector)
    box.click()
    if delay:
        box.fill("")
        box.press_sequentially(text, delay=delay)
    else:
        box.fill(text)  # replaces the content: one input event, no empty intermediate state


def wait_for_plot(page: Any, selector: str, timeout: float = 15_000) -> None:
    """Wait until the Plotly plot in ``selector`` has drawn data."""
    page.wait_for_function(
        """(sel) => { const el = document.querySelector(sel);
             return !!(el && el.data && el.data.length && el.querySelector('.main-svg')); }""",
        arg=selector,
        timeout=timeout,
    )


def plot_data(page: Any, selector: str) -> Any:
    """The data array of a Plotly plot (as JSON)."""
    return page.evaluate("(sel) => JSON.parse(JSON.stringify(document.querySelector(sel).data))", selector)


def plot_shapes(page: Any, selector: str) -> Any:
    return page.evaluate(
        "(sel) => JSON.parse(JSON.stringify(document.querySelector(sel).layout.shapes || []))",
        selector,
    )


def url_state(page: Any) -> dict[str, str]:
    """The view state in the URL query, one value per key."""
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def click_heatmap_cell(page: Any, selector: str, step: int, unit: int) -> None:
    """Click the pixel of heatmap cell (step, unit) using Plotly's own axis mapping."""
    page.locator(selector).scroll_into_view_if_needed()
    x, y = page.evaluate(
        """([sel, step, unit]) => { const gd = document.querySelector(sel); const L = gd._fullLayout;
             const box = gd.getBoundingClientRect();
             return [box.left + L._size.l + L.xaxis.l2p(step), box.top + L._size.t + L.yaxis.l2p(unit)]; }""",
        [selector, step, unit],
    )
    page.mouse.click(x, y)
