"""The skip-thought page in real Chromium: type a held-out sentence, see the previous and next
sentences, the typed point on the map, and the URL restoring the view."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.helpers import plot_data, type_into, url_state, wait_for_plot

pytestmark = pytest.mark.browser


def wait_for_tokens(page: Any, tokens: str) -> None:
    page.wait_for_function(
        """(t) => [...document.querySelectorAll('#input-tokens .tok')]
                 .map(s => s.textContent).join(' ') === t""",
        arg=tokens,
    )


def star(page: Any) -> dict[str, Any]:
    traces = plot_data(page, "#map")
    mine = [t for t in traces if t.get("name") == "your sentence"]
    assert len(mine) == 1, [t.get("name") for t in traces]
    return mine[0]  # type: ignore[no-any-return]


def test_type_a_held_out_sentence_and_restore(page: Any, base_url: str) -> None:
    page.goto("/skip-thought")
    wait_for_plot(page, "#map")
    wait_for_plot(page, "#thought")
    page.wait_for_selector("#metrics tbody tr")
    assert "story" not in url_state(page)  # no story picked: the URL names none
    assert page.locator("#metrics tbody tr").count() == 6  # 2 decoders × (own + 2 controls)

    # A held-out story (cooking), and one of its sentences whose next sentence is forced.
    page.select_option("#story", "cooking")
    page.wait_for_function("() => new URLSearchParams(location.search).get('story') === 'cooking'")
    chip = page.locator("#examples button:has(.st-forced)").nth(1)
    text = chip.inner_text().replace("→", "").strip()
    type_into(page, "#text", text)
    tokens = text.lower().replace(".", " .").split()
    wait_for_tokens(page, " ".join(tokens))

    # The previous and next sentences appear, with the true neighbours of the held-out story.
    page.wait_for_function("() => document.querySelector('#next-text').textContent.trim().length > 0")
    previous = page.locator("#previous-text").inner_text().strip()
    following = page.locator("#next-text").inner_text().strip()
    assert previous and following
    truth = page.locator("#next-info .st-truth")
    assert "in the held-out story" in truth.inner_text()
    api = httpx.post(
        base_url + "/api/skipthought/neighbours", json={"model": "stories-skipthought", "text": text}
    ).json()
    assert following == (api["next"]["text"] or following)
    assert previous == (api["previous"]["text"] or previous)

    # The map shows the typed point where the API put it.
    page.locator("#map-card").scroll_into_view_if_needed()
    point = star(page)
    assert point["x"][0] == pytest.approx(api["projection"]["x"], abs=1e-3)
    assert point["y"][0] == pytest.approx(api["projection"]["y"], abs=1e-3)
    assert point["marker"]["symbol"] == "star"
    # The nearest table lists 10 training sentences.
    assert page.locator("#nearest tbody tr").count() == 10

    # Colour by position, then reload: the URL restores the sentence, story, colouring and point.
    page.locator("#colour-position").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('colour') === 'position'")
    state = url_state(page)
    assert state["text"] == text and state["story"] == "cooking"
    page.reload()
    wait_for_plot(page, "#map")
    wait_for_tokens(page, " ".join(tokens))
    assert page.locator("#text").input_value() == text
    assert page.locator("#story").input_value() == "cooking"
    assert page.locator("#colour-position").get_attribute("aria-pressed") == "true"
    page.wait_for_function("() => document.querySelector('#map').data.some(t => t.name === 'your sentence')")
    assert star(page)["x"][0] == pytest.approx(api["projection"]["x"], abs=1e-3)
    colours = [t for t in plot_data(page, "#map") if t.get("name") == "training sentences"]
    assert colours and isinstance(colours[0]["marker"]["color"], list)  # coloured by position
    assert page.locator("#next-text").inner_text().strip() == following


def test_unknown_words_are_marked_and_limits_shown_inline(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/skip-thought?text=" + "Anna eats zzzz for breakfast.")
    wait_for_plot(page, "#map")
    page.wait_for_selector("#unknown-note:not([hidden])")
    assert page.locator("#input-tokens .tok.unknown").inner_text() == "zzzz"
    type_into(page, "#text", " ".join(["word"] * 41))
    page.wait_for_selector("#error:not([hidden])")
    assert "41 words" in page.locator("#error").inner_text()
    # A valid sentence clears the error and the page works again.
    type_into(page, "#text", "Ben walks to the train station.")
    page.wait_for_selector("#error", state="hidden")
    wait_for_tokens(page, "ben walks to the train station .")
