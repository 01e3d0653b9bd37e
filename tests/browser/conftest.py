"""Browser test harness: the real server (``recurrent-lens serve``) on a free loopback port, and
Playwright driving Debian's Chromium. Browser tests are required: without /usr/bin/chromium they
fail, never skip.

The ``page`` fixture watches everything a page does and fails the test at teardown on any console
error, uncaught exception, failed request, HTTP error (unless the test allowed that status) or a
request that leaves loopback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest

from app.config import REPO_ROOT
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, Server, start_server, stop_server


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The app with the shipped models, as `make serve` runs it."""
    s = start_server(REPO_ROOT / "models")
    yield s
    stop_server(s)


@pytest.fixture(scope="session")
def base_url(server: Server) -> str:
    return server.url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: browser tests are required (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@dataclass
class Watch:
    """What a page did that a test may need to fail on."""

    base_url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    allowed_status: set[int] = field(default_factory=set)

    def allow_status(self, *codes: int) -> None:
        """A test that sends bad input on purpose allows those status codes (and their console lines)."""
        self.allowed_status.update(codes)

    def problems(self) -> list[str]:
        console = [
            m
            for m in self.console_errors
            if not any(f"status of {code}" in m for code in self.allowed_status)
        ]
        http = [m for m in self.http_errors if int(m.split()[0]) not in self.allowed_status]
        return console + self.page_errors + self.failed_requests + http + self.outside_requests


@pytest.fixture
def watch(base_url: str) -> Watch:
    return Watch(base_url)


@pytest.fixture
def page(browser, base_url: str, watch: Watch) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, base_url=base_url)
    pg = context.new_page()
    host = urlparse(base_url).netloc

    pg.on("console", lambda m: watch.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: watch.page_errors.append(f"page error: {e}"))

    def on_failed(req) -> None:  # type: ignore[no-untyped-def]
        failure = req.failure or ""
        if "ERR_ABORTED" in failure:  # superseded requests are aborted on purpose (AbortController)
            return
        watch.failed_requests.append(f"failed: {req.method} {req.url} {failure}")

    def on_request(req) -> None:  # type: ignore[no-untyped-def]
        parsed = urlparse(req.url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.netloc != host:
            watch.outside_requests.append(f"outside request: {req.url}")

    def on_response(resp) -> None:  # type: ignore[no-untyped-def]
        if resp.status >= 400:
            watch.http_errors.append(f"{resp.status} {resp.request.method} {resp.url}")

    pg.on("requestfailed", on_failed)
    pg.on("request", on_request)
    pg.on("response", on_response)
    yield pg
    problems = watch.problems()
    context.close()
    assert not problems, "the page had problems:\n" + "\n".join(problems)
