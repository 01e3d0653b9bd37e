"""Hostile URL state: every page × every URL-state key × hostile values, in real Chromium.

Each page's keys are read from its module's ``DEFAULTS`` (so a key added later is covered). For
each hostile value, one navigation sets every key of the page to it at once (one browser, many
navigations, so the whole table stays fast). The page must raise no error (the ``page`` fixture
fails on any uncaught exception or console error) and leave no panel blank: every element the
page fills with the default URL is filled again, and no error is shown, because every key falls
back to its default (``static/js/state.js``).

Free text (what the user types: ``text``, ``target``, ``csv``, ``copy``) is any string by
design; the model may refuse it, as it would refuse the same text typed. Those keys get their own
navigation, where a panel may instead show the server's refusal inline (never blank and silent).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.config import REPO_ROOT
from app.pages import lessons

HOSTILE = ["-5", "NaN", "1e308", "__proto__", "zzz", "%00"]
FREE_TEXT = {"text", "target", "csv", "copy"}
PAGES = [lesson.slug for lesson in lessons()]

# Containers a page fills from JavaScript: visible, not a status or error line, not Plotly's own
# insides, not in a closed <details>. Labelled by id (or the id of the nearest ancestor, for a tbody).
TARGETS = "main div[id], main svg[id], main tbody, main ol[id], main ul[id]"
LABEL = "(x) => x.id || `${x.closest('[id]') ? x.closest('[id]').id : ''} ${x.tagName}`"
FILLED = f"""(sel) => [...document.querySelectorAll(sel)]
  .filter((el) => el.offsetParent !== null && !el.closest('details:not([open])'))
  .filter((el) => !(el.parentElement && el.parentElement.closest('.js-plotly-plot')))
  .filter((el) => !el.matches('.error, [role=alert], [aria-live]'))
  .filter((el) => el.childElementCount > 0 || el.textContent.trim())
  .map({LABEL})"""
SETTLED = f"""([ids, sel]) => {{
  const label = {LABEL};
  const filled = (x) => x.childElementCount > 0 || x.textContent.trim();
  const all = [...document.querySelectorAll(sel)];
  return ids.every((key) => all.some((x) => label(x) === key && filled(x)));
}}"""

SHOWN_ERRORS = """() => [...document.querySelectorAll('.error, [role=alert]')]
  .filter((el) => !el.hidden && el.offsetParent !== null && el.textContent.trim())
  .map((el) => `${el.id}: ${el.textContent.trim()}`)"""


def state_keys(slug: str) -> list[str]:
    """The keys of a page module's DEFAULTS object literal."""
    source = (REPO_ROOT / "static" / "js" / "pages" / f"{slug}.js").read_text()
    match = re.search(r"const DEFAULTS = \{(.*?)\};", source, re.S)
    assert match, f"{slug}.js has no DEFAULTS"
    keys = re.findall(r"(?:^|,)\s*([A-Za-z_]\w*)\s*:", match.group(1))
    assert keys, slug
    return keys


def visit(page: Any, watch: Any, url: str, baseline: list[str], lenient: bool) -> None:
    page.goto(url)
    try:
        page.wait_for_function(SETTLED, arg=[baseline, TARGETS], timeout=20_000)  # a shared, busy CI box
        page.wait_for_timeout(100)  # a late answer (the model list) may still change the page
    except Exception as exc:  # Playwright's TimeoutError: which panels stayed blank, and why
        blank = [key for key in baseline if key not in set(page.evaluate(FILLED, TARGETS))]
        shown = page.evaluate(SHOWN_ERRORS)
        if not (lenient and shown):
            raise AssertionError(f"{url}: blank panels {blank} (shown: {shown})") from exc
    if not lenient:
        assert not page.evaluate(SHOWN_ERRORS), f"{url}: {page.evaluate(SHOWN_ERRORS)}"
    assert not watch.page_errors, f"{url}: {watch.page_errors}"


@pytest.mark.slow
@pytest.mark.parametrize("slug", PAGES)
def test_hostile_url_state_never_breaks_a_page(page: Any, watch: Any, slug: str) -> None:
    keys = state_keys(slug)
    watch.allow_status(404, 409, 422)  # free text may reach the API; it must be refused cleanly
    page.goto(f"/{slug}")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)
    baseline = page.evaluate(FILLED, TARGETS)
    assert baseline, f"/{slug} fills nothing with its default URL"
    strict = [k for k in keys if k not in FREE_TEXT]
    for value in HOSTILE:
        visit(page, watch, f"/{slug}?" + "&".join(f"{k}={value}" for k in strict), baseline, lenient=False)
    texts = [k for k in keys if k in FREE_TEXT]
    if texts:
        visit(page, watch, f"/{slug}?" + "&".join(f"{k}=%00" for k in texts), baseline, lenient=True)
