"""The page shell: parse the HTML (never grep it), check navigation, scripts and offline-ness."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from app.pages import LESSONS, STATIC_DIR, lessons


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.text.append((self._in[-1] if self._in else "", data))  # type: ignore[arg-type]

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]

    def texts(self, tag: str) -> list[str]:
        return [d.strip() for t, d in self.text if t == tag and d.strip()]  # type: ignore[misc]


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


def page_paths() -> list[str]:
    return ["/", "/docs"] + [lesson.path for lesson in lessons()]


@pytest.mark.parametrize("path", page_paths())
def test_page_is_offline_and_has_no_inline_script(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = parse(r.text)
    for tag, attr in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
        for attrs in page.find(tag):
            url = attrs.get(attr)
            if url:
                assert not urlparse(url).netloc and not url.startswith("//"), f"{path}: outside URL {url}"
    for attrs in page.find("script"):
        assert attrs.get("src"), f"{path}: inline script"
    assert not any(a for a in page.find("a") if (a.get("href") or "").startswith(("http:", "https:"))), path
    for attrs in page.find("script") + page.find("link"):
        url = attrs.get("src") or attrs.get("href") or ""
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url


def test_home_lists_the_lesson_path_in_order(client: TestClient) -> None:
    page = parse(client.get("/").text)
    assert page.texts("h1") == ["Recurrent Lens"]
    nav_links = [
        a.get("href") for a in page.find("a") if a.get("href") in {lesson.path for lesson in LESSONS}
    ]
    existing = [lesson.path for lesson in lessons()]
    assert nav_links[: len(existing)] == existing  # the navigation comes first, in lesson order
    assert page.find("table"), "home page has the models table"


def test_only_existing_lessons_are_served(client: TestClient) -> None:
    for lesson in LESSONS:
        assert client.get(lesson.path).status_code == (200 if lesson.exists else 404)


def test_each_page_has_one_module_script(client: TestClient) -> None:
    for path in ["/"] + [lesson.path for lesson in lessons()]:
        page = parse(client.get(path).text)
        modules = [s for s in page.find("script") if s.get("type") == "module"]
        assert len(modules) == 1, path


OWN_STATIC = [p for p in STATIC_DIR.rglob("*") if p.is_file() and "vendor" not in p.parts]


@pytest.mark.parametrize("path", OWN_STATIC, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_own_static_files_reference_no_outside_url(path) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text(errors="replace")
    urls = [u for u in re.findall(r"https?://[^\s'\")]+", text) if not u.startswith("http://www.w3.org/")]
    assert not urls, f"{path.name}: {urls}"


def test_static_versioned_urls_are_cached_for_a_year(client: TestClient) -> None:
    page = parse(client.get("/").text)
    css = next(a["href"] for a in page.find("link") if a.get("rel") == "stylesheet")
    assert css and "?v=" in css
    r = client.get(css)
    assert "immutable" in r.headers["cache-control"]
    assert client.get("/static/css/app.css").headers["cache-control"] == "no-cache"


def test_each_lesson_ends_with_links_to_the_previous_and_next_lesson(client: TestClient) -> None:
    path = lessons()
    for i, lesson in enumerate(path):
        page = parse(client.get(lesson.path).text)
        rel = {a.get("rel"): a.get("href") for a in page.find("a") if a.get("rel") in ("prev", "next")}
        assert rel["prev"] == (path[i - 1].path if i > 0 else "/"), lesson.path
        assert rel["next"] == (path[i + 1].path if i + 1 < len(path) else "/"), lesson.path
        if i + 1 < len(path):  # one line on what comes next: the next lesson's blurb
            assert path[i + 1].blurb in page.texts("span"), lesson.path
        assert any("Keyboard" in t for t in page.texts("p")), lesson.path


def test_present_and_old_big_links_render_presentation_mode(client: TestClient) -> None:
    for query in ("?present=1", "?big=1"):
        page = parse(client.get("/attention" + query).text)
        assert "present" in (page.find("html")[0].get("class") or "").split()
        nav = [a.get("href") for a in page.find("a") if "data-keep-present" in a]
        assert nav and all(h.endswith("?present=1") for h in nav)  # the path stays in presentation mode
        toggle = next(b for b in page.find("button") if b.get("id") == "present-toggle")
        assert toggle.get("aria-pressed") == "true"
    page = parse(client.get("/attention").text)
    assert not page.find("html")[0].get("class")


def test_each_lesson_maps_the_seed_material(client: TestClient) -> None:
    for lesson in lessons():
        page = parse(client.get(lesson.path).text)
        asides = [a for a in page.find("aside") if "seed-note" in (a.get("class") or "")]
        assert len(asides) == 1, lesson.path
        assert "In the seed material" in page.texts("h2"), lesson.path


def test_the_header_lists_every_lesson_by_its_short_label(client: TestClient) -> None:
    page = parse(client.get("/beam").text)
    labels = [t for t in page.texts("span") if t in {lesson.label for lesson in lessons()}]
    assert labels[: len(lessons())] == [lesson.label for lesson in lessons()]
