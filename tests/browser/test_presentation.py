"""Presentation mode in real Chromium: every lesson page fits a projector's screen.

At 1024×768 and 1280×720 with ``present=1`` (and at 1366×768 without it) each lesson page must:
be no wider than the viewport; show every line of text whole (no text wider than its box, clipped
or hidden in a sideways-scrolling box); keep its header to one compact row (≤ 10 % of the height);
offer no toolbar button that sends a chart off the machine; and end with rel=prev/next links.
One browser context per screen size visits every page in turn, so the test stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.pages import lessons

pytestmark = pytest.mark.browser

# The checks, in the page: tests/browser/page_faults.js (document width, header height, text cut
# off or in a sideways scroller, cloud buttons, rel=prev/next).
FAULTS = "() => " + (Path(__file__).parent / "page_faults.js").read_text().split("\n() => ", 1)[1]
PRESENT = "() => document.documentElement.classList.contains('present')"

# (width, height, query, then_toggle): at 1024 the test also turns presentation mode off with its key
# and checks that the ordinary layout does not scroll sideways either.
SCREENS = [
    pytest.param(1024, 768, "?present=1", True, id="present-1024x768"),
    pytest.param(1280, 720, "?present=1", False, id="present-1280x720"),
    pytest.param(1366, 768, "", False, id="laptop-1366x768"),
]


def settle(page: Any) -> None:
    """Wait until the page's requests are answered and every visible plot has drawn."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.plot')]
                 .filter((el) => el.offsetParent && !el.closest('[hidden]'))
                 .every((el) => el.querySelector('.main-svg'))""",
        timeout=20_000,
    )
    page.evaluate("() => document.fonts.ready.then(() => new Promise((r) => requestAnimationFrame(r)))")


@pytest.mark.parametrize("width,height,query,then_toggle", SCREENS)
def test_every_lesson_fits_the_screen(
    browser: Any, base_url: str, width: int, height: int, query: str, then_toggle: bool
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    found: dict[str, list[str]] = {}
    try:
        for lesson in lessons():
            page.goto(lesson.path + query)
            settle(page)
            if query:
                assert page.evaluate(PRESENT), lesson.path
            faults = page.evaluate(FAULTS)
            if then_toggle:
                page.keyboard.press("p")  # presentation mode off, without a reload
                assert "present=1" not in page.url
                page.wait_for_function(f"() => !({PRESENT})()")
                settle(page)
                wide = page.evaluate("() => document.documentElement.scrollWidth")
                if wide > width:
                    faults.append(f"without presentation mode the page is {wide} px wide")
            if faults:
                found[lesson.path] = faults
    finally:
        context.close()
    assert not errors, errors
    assert not found, "\n".join(f"{path}: {fault}" for path, faults in found.items() for fault in faults)
