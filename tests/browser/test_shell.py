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
        assert page.locator("nav .lessons a[aria-current=page]").inner_text().endswith(heading)


def test_home_shows_models_table(page: Any, base_url: str) -> None:
    page.goto("/")
    models = httpx.get(base_url + "/api/models").json()["models"]
    rows = page.locator("#models-table tbody tr[data-model]")
    rows.first.wait_for()
    assert rows.count() == len(models) > 0
    names = [rows.nth(i).get_attribute("data-model") for i in range(rows.count())]
    assert names == [m["name"] for m in models]
    screenshot(page, "home")


def test_large_font_toggle_is_in_the_url(page: Any) -> None:
    page.goto("/")
    page.click("#large-fonts")
    assert "big=1" in page.url
    assert page.evaluate("document.body.classList.contains('large')")
    page.reload()
    assert page.evaluate("document.body.classList.contains('large')")


def test_docs_work_offline(page: Any) -> None:
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .information-container", timeout=15_000)
    page.get_by_text("/api/health", exact=True).first.wait_for(timeout=15_000)
