"""XSS: hostile text typed into every page's input never executes and shows literally.

Each payload would set ``window.__pwned`` if any page inserted it as HTML or script (or if the
CSP let an inline handler run). After typing it, the test waits for the page to finish its request
and asserts the flag is unset, that the payload's characters appear as text, and that the
Content-Security-Policy header came with the page.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import type_into

pytestmark = pytest.mark.browser

PAYLOADS = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
    "a\"b'c<svg onload=window.__pwned=1>",
    "javascript:window.__pwned=1",
]

# page -> (input selector, how to make the payload acceptable input for that page, an element
# whose text shows what the model read)
PAGES = {
    "/lstm": ("#text", lambda p: p, "#coloured-text"),
    "/rnn": ("#text", lambda p: p, None),
    "/gradients": ("#sequence", lambda p: p[:60], None),
    "/birnn": ("#text", lambda p: p.replace("_", "-") + " _ ", None),
    "/attention": ("#text", lambda p: p, None),
    "/teacher-forcing": ("#text", lambda p: p, None),
    "/beam": ("#text", lambda p: p, None),
    "/skip-thought": ("#text", lambda p: p, None),
}


@pytest.mark.parametrize("path", sorted(PAGES))
def test_payloads_stay_text(page: Any, watch: Any, base_url: str, path: str) -> None:
    watch.allow_status(422)  # a page may refuse the text (e.g. a blank count); that is fine
    selector, adapt, shown = PAGES[path]
    response = page.goto(path)
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp
    page.wait_for_load_state("networkidle")
    for payload in PAYLOADS:
        text = adapt(payload)
        with page.expect_response(lambda r: r.request.method == "POST", timeout=15_000):
            type_into(page, selector, text)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => window.__pwned === undefined"), f"{path}: {payload!r} executed"
        assert page.locator(selector).input_value() == text
        if shown:  # the page shows the characters the model read, as characters
            word = next(w for w in ("onerror", "script", "svg", "javascript") if w in text)
            assert word in page.locator(shown).inner_text()
        assert page.locator("img[src=x], svg[onload]").count() == 0
