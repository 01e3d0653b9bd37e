"""Quality of the shipped ``shakespeare-char``, re-measured on the held-out plays.

The held-out plays (The Tempest, Twelfth Night) are never trained on, so they are this model's
fresh data. The tests recompute what the checkpoint claims: bits per character over both plays,
the same from a zero state on the short windows the page traces, and that each "unit worth a look"
still tracks its feature on a part of the held-out text the analysis never saw.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from app.checkpoints import Registry
from app.nets.char_lm import CharLM
from app.recipes.char_lm import _correlations, _states, bits_per_char, text_features
from app.tasks import shakespeare
from app.tasks.vocab import Vocab
from tests.conftest import shipped_entry

pytestmark = pytest.mark.slow

Model = tuple[CharLM, Vocab, dict[str, Any]]


@pytest.fixture(scope="module")
def model(shipped: Registry) -> Model:
    entry = shipped_entry(shipped, "shakespeare-char")
    assert isinstance(entry.net, CharLM)
    return entry.net, Vocab.from_dict(entry.checkpoint["vocab"]), entry.metrics


@pytest.fixture(scope="module")
def held_out() -> str:
    return shakespeare.split()[1]


def test_held_out_bits_per_char(model: Model, held_out: str) -> None:
    net, vocab, metrics = model
    bpc = bits_per_char(net, torch.tensor(vocab.encode(held_out).ids))
    assert bpc == pytest.approx(metrics["held_out_bits_per_char"], abs=1e-3)
    # Far better than the unigram entropy of the held-out text, and within the target.
    counts = np.unique(np.array(vocab.encode(held_out).ids), return_counts=True)[1]
    p = counts / counts.sum()
    unigram = float(-(p * np.log2(p)).sum())
    assert unigram > 4.0 and bpc <= 2.3


def test_short_windows_from_a_zero_state(model: Model, held_out: str) -> None:
    """What the page shows: 128-character windows traced from zero state predict nearly as well."""
    net, vocab, _ = model
    ids = torch.tensor(vocab.encode(held_out).ids)
    gen = torch.Generator().manual_seed(31_337)
    starts = torch.randint(0, len(ids) - 129, (200,), generator=gen)
    batch = ids[starts[None, :] + torch.arange(129)[:, None]]  # (129, 200)
    with torch.inference_mode():
        logits, _ = net(batch[:-1])
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[1:].reshape(-1))
    assert float(nll) / math.log(2) < 2.6


def test_units_worth_a_look_hold_on_unseen_text(model: Model, held_out: str) -> None:
    net, vocab, metrics = model
    analysed = metrics["units_text_chars"]
    text = held_out[analysed : analysed + 60_000]  # held-out text the analysis never read
    states = _states(net, torch.tensor(vocab.encode(text).ids))
    features = text_features(text)
    assert {u["feature"] for u in metrics["units"]} <= set(features)
    for unit in metrics["units"]:
        values = states[unit["quantity"]][:, unit["unit"]]
        r = float(_correlations(values[:, None], features[unit["feature"]])[0])
        assert np.sign(r) == np.sign(unit["r"]), unit
        assert abs(r) > 0.6 * abs(unit["r"]), (unit, r)
        if abs(unit["r"]) - unit["untrained_best_abs_r"] >= 0.1:  # a clear win stays a win
            assert abs(r) > unit["untrained_best_abs_r"], (unit, r)
