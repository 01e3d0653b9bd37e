"""Every page loads in real Chromium: heading, no console error, no failed or outside request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.pages import lessons
from tests.browser.helpers import screenshot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    "path,heading",
    [("/", "Recurrent Lens")] + [(lesson.path, lesson.title) for lesson in lessons()],
)
def test_page_loads_clean(page: Any, path: str, heading: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    assert heading in page.locator("h1").first.inner_text()
    nav = page.locator("nav .lessons a")
    assert nav.count() == len(lessons())
    if path != "/":
        current = page.locator("nav .lessons a[aria-current=page]")
        assert current.get_attribute("title").endswith(heading)
        assert current.locator(".label").is_visible()


def test_home_shows_models_table(page: Any, base_url: str) -> None:
    page.goto("/")
    models = httpx.get(base_url + "/api/models").json()["models"]
    rows = page.locator("#models-table tbody tr[data-model]")
    rows.first.wait_for()
    assert rows.count() == len(models) > 0
    names = [rows.nth(i).get_attribute("data-model") for i in range(rows.count())]
    assert names == [m["name"] for m in models]
    screenshot(page, "home")


def test_presentation_mode_is_in_the_url_and_old_large_font_links_open_it(page: Any) -> None:
    page.goto("/lstm")
    page.click("#present-toggle")
    assert "present=1" in page.url
    assert page.evaluate("document.documentElement.classList.contains('present')")
    assert page.locator("#present-toggle").get_attribute("aria-pressed") == "true"
    next_link = page.locator(".lesson-nav a[rel=next]")
    assert "present=1" in next_link.get_attribute("href")  # the next lesson opens in presentation mode too
    page.reload()
    assert page.evaluate("document.documentElement.classList.contains('present')")
    page.keyboard.press("p")
    assert "present" not in page.url
    assert not page.evaluate("document.documentElement.classList.contains('present')")
    assert "present=1" not in next_link.get_attribute("href")
    # A link made with the old large-font button still opens on the projector, as present=1.
    page.goto("/lstm?big=1&t=3")
    assert page.evaluate("document.documentElement.classList.contains('present')")
    page.wait_for_function("() => new URLSearchParams(location.search).get('present') === '1'")
    assert "big=" not in page.url and "t=3" in page.url


def test_lesson_keys_move_along_the_path(page: Any) -> None:
    page.goto("/lstm")
    page.locator("body").press("]")
    page.wait_for_url("**/birnn")
    page.locator("body").press("[")
    page.wait_for_url("**/lstm")


def test_docs_work_offline(page: Any) -> None:
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .information-container", timeout=15_000)
    page.get_by_text("/api/health", exact=True).first.wait_for(timeout=15_000)
