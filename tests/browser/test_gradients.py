"""The vanishing-gradient lab in real Chromium: raise T, the curves redraw, the RNN's gradient
falls by orders of magnitude more than the chrono LSTM's, and the URL restores the view."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from tests.browser.helpers import plot_data, screenshot, type_into, url_state, wait_for_plot

pytestmark = pytest.mark.browser
MODELS = ("recall-rnn", "recall-rnn-orth", "recall-lstm", "recall-lstm-chrono")


def fmt3(x: float) -> str:
    """The page's number format (ui.js fmt with 3 digits)."""
    if 1e-4 <= abs(x) < 1e5:
        return f"{float(f'{x:.3g}'):g}"
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{x:.2e}")


def curves(page: Any) -> dict[str, list[float]]:
    """‖∂L/∂h_t‖ per model, from the overlay chart (legend name starts with the model name)."""
    return {d["name"].split(" ")[0]: d["y"] for d in plot_data(page, "#grad-overlay")}


def orders_of_magnitude(y: list[float]) -> float:
    """How many orders of magnitude ‖∂L/∂h‖ falls from the last step back to the first."""
    return math.log10(y[-1] / y[0])


def wait_for_length(page: Any, n: int) -> None:
    page.wait_for_function(
        """(n) => { const gd = document.querySelector('#grad-overlay');
             return gd && gd.data && gd.data.length === 4 && gd.data.every((d) => d.y.length === n); }""",
        arg=n,
    )


def test_raise_t_the_rnn_gradient_vanishes_and_the_url_restores(page: Any) -> None:
    page.goto("/gradients?T=10")
    wait_for_plot(page, "#grad-overlay")
    wait_for_length(page, 12)
    short = curves(page)
    assert set(short) == set(MODELS)

    # Raise T: the sequence and every curve are recomputed for the weights trained at T = 100.
    page.locator("#delays button", has_text="100").click()
    wait_for_length(page, 102)
    assert url_state(page)["T"] == "100"
    assert len(page.locator("#sequence").input_value()) == 102
    long = curves(page)
    rnn, chrono = orders_of_magnitude(long["recall-rnn"]), orders_of_magnitude(long["recall-lstm-chrono"])
    assert rnn - chrono >= 2, (rnn, chrono)  # the RNN's signal falls by ≥ 2 orders of magnitude more
    assert rnn > orders_of_magnitude(short["recall-rnn"]) + 1  # and more than it did at T = 10
    for i in range(4):
        wait_for_plot(page, f"#panel-{i}")
    lstm_panel = plot_data(page, "#panel-3")
    assert [d["name"] for d in lstm_panel] == ["‖∂L/∂h_t‖", "‖∂L/∂c_t‖", "∏f (cell path to the end)"]
    assert len(plot_data(page, "#panel-0")) == 1  # the RNN has no cell state
    assert len(plot_data(page, "#saturation")) == 4

    # Step: the readout shows the gradient at that step.
    page.locator("body").press("ArrowRight")
    assert url_state(page)["t"] == "1"
    first_row = page.locator("#readout tbody tr").first.inner_text()
    assert "recall-rnn" in first_row
    assert fmt3(long["recall-rnn"][1]) in first_row, (long["recall-rnn"][1], first_row)

    # The URL restores the view: same T, sequence, step and curves.
    page.reload()
    wait_for_length(page, 102)
    assert curves(page) == long
    assert page.locator("#steps .step-label").inner_text().startswith("step 1 /")
    screenshot(page, "gradients")


def test_edited_sequence_and_bad_input(page: Any, watch: Any) -> None:
    watch.allow_status(422)
    page.goto("/gradients?T=20")
    wait_for_length(page, 22)
    type_into(page, "#sequence", "F0123456789?")
    wait_for_length(page, 12)
    assert url_state(page)["seq"] == "F0123456789?"
    type_into(page, "#sequence", "F01x?")
    page.wait_for_selector("#error:not([hidden])")
    assert "character 3" in page.locator("#error").inner_text()
    # The old curves stay on screen, and the URL still holds the sequence they belong to.
    assert url_state(page)["seq"] == "F0123456789?"
    assert "last sequence the models accepted" in page.locator("#status").inner_text()
    page.reload()
    wait_for_length(page, 12)
    assert page.locator("#error").is_hidden()
    type_into(page, "#sequence", "F012?")
    page.wait_for_selector("#error", state="hidden")
    wait_for_length(page, 5)
