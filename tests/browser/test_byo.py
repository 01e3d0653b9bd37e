"""Bring your own LSTM in real Chromium: upload a checkpoint + vocabulary, trace, survive garbage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tests.browser.helpers import screenshot, type_into, url_state, wait_for_plot

pytestmark = pytest.mark.browser


class TinyCharLSTM(nn.Module):
    """What a practitioner might have: embedding → 2-layer LSTM → linear, saved as a state_dict."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(6, 5)
        self.rnn = nn.LSTM(5, 12, 2)
        self.decoder = nn.Linear(12, 6)


@pytest.fixture
def user_files(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    torch.manual_seed(0)
    model = tmp_path / "my_lstm.pt"
    torch.save(TinyCharLSTM().state_dict(), model)
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps(list("abcde ")))
    series = tmp_path / "series.pt"
    torch.save(nn.LSTM(3, 7, bidirectional=True).state_dict(), series)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"definitely not a checkpoint" * 20)
    return model, vocab, series, garbage


def test_upload_type_and_recover_from_garbage(page: Any, watch: Any, user_files: tuple[Path, ...]) -> None:
    model, vocab, series, garbage = user_files
    watch.allow_status(422)
    page.goto("/lstm")
    wait_for_plot(page, "#hm-hidden")
    page.click("#open-upload")
    page.set_input_files("#upload-file", str(model))
    page.set_input_files("#upload-vocab", str(vocab))
    page.click("#upload-submit")
    page.wait_for_function("() => document.querySelector('#model').value.startsWith('upload-')")
    name = page.locator("#model").input_value()
    assert "2 layer(s)" in page.locator("#model-note").inner_text()
    type_into(page, "#text", "abc de cab")
    page.wait_for_function(
        "(n) => document.querySelector('#hm-forget').data?.[0].z[0].length === n",
        arg=len("abc de cab"),
    )
    for q in ("forget", "input", "candidate", "output", "cell", "hidden"):
        wait_for_plot(page, f"#hm-{q}")
        assert len(page.evaluate(f"() => document.querySelector('#hm-{q}').data[0].z")) == 12
    assert page.locator("#layer-wrap").is_visible()  # two layers: the layer picker appears
    assert url_state(page)["model"] == name

    # Garbage: a readable error, and the page keeps working.
    page.set_input_files("#upload-file", str(garbage))
    page.set_input_files("#upload-vocab", [])
    page.click("#upload-submit")
    page.wait_for_selector("#upload-error:not([hidden])")
    assert "not a readable PyTorch file" in page.locator("#upload-error").inner_text()
    assert page.locator("#model").input_value() == name
    type_into(page, "#text", "bad")
    page.wait_for_function("() => document.querySelector('#hm-forget').data[0].z[0].length === 3")

    # A model without a vocabulary reads vectors: the CSV input takes over.
    page.set_input_files("#upload-file", str(series))
    page.click("#upload-submit")
    page.wait_for_function("() => document.querySelector('#csv-field').hidden === false")
    wait_for_plot(page, "#hm-hidden")
    page.wait_for_function("() => document.querySelector('#hm-hidden').data[0].z.length === 7")
    assert page.locator("#layer option").count() == 2  # forward and backward
    screenshot(page, "byo")
