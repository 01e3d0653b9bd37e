"""Quality of the shipped seq2seq checkpoints on FRESHLY generated held-out data (never the
recipe's own evaluation sets), and the promises the attention page relies on."""

from __future__ import annotations

import random

import pytest

from app.checkpoints import Registry
from app.config import REPO_ROOT
from app.nets.seq2seq import Seq2Seq
from app.recipes.seq2seq import copy_bucket_metrics, exact_match, translate_batch
from app.tasks import copy as copy_task
from app.tasks import dates as dates_task
from app.tasks.vocab import Vocab
from tests.conftest import shipped_entry

NAMES = ("dates", "copy-attention", "copy-plain")


def parts(shipped: Registry, name: str) -> tuple[Seq2Seq, Vocab, Vocab]:
    entry = shipped_entry(shipped, name)
    assert isinstance(entry.net, Seq2Seq)
    vocab = entry.checkpoint["vocab"]
    return entry.net, Vocab.from_dict(vocab["source"]), Vocab.from_dict(vocab["target"])


def test_dates_reach_99_5_percent_on_fresh_held_out_days(shipped: Registry) -> None:
    net, source, target = parts(shipped, "dates")
    rng = random.Random("quality-test-dates")
    clean = dates_task.generate(2000, rng, "held_out", variant_rate=0.0)
    predictions = translate_batch(net, [e.source for e in clean], source, target, 16)
    wrong = [(e.source, e.target, p) for e, p in zip(clean, predictions, strict=True) if p != e.target]
    assert exact_match(predictions, [e.target for e in clean]) >= 0.995, wrong[:10]


def test_dates_are_robust_to_natural_variants(shipped: Registry) -> None:
    net, source, target = parts(shipped, "dates")
    rng = random.Random("quality-test-variants")
    varied = dates_task.generate(1000, rng, "held_out", variant_rate=1.0)
    typed = [
        "27 Nov 2026",
        "27 nov. 2026",
        "27 NOV 2026",
        "27  Nov 2026",
        "27Nov2026",
        "Nov 27 2026",
        "Nov. 27, 2026",
    ]
    predictions = translate_batch(net, [e.source for e in varied] + typed, source, target, 16)
    gold = [e.target for e in varied] + ["2026-11-27"] * len(typed)
    assert predictions[-len(typed) :] == gold[-len(typed) :]
    assert exact_match(predictions, gold) >= 0.99


def test_attention_beats_the_fixed_vector_at_every_length_from_11(shipped: Registry) -> None:
    att = parts(shipped, "copy-attention")
    plain = parts(shipped, "copy-plain")
    with_attention = copy_bucket_metrics(*att, seed=12345, per_bucket=100)
    without = copy_bucket_metrics(*plain, seed=12345, per_bucket=100)
    for a, p in zip(with_attention, without, strict=True):
        assert a["bucket"] == p["bucket"]
        if a["min_length"] >= 11:
            assert a["exact"] > p["exact"], (a, p)
            assert a["token_accuracy"] > p["token_accuracy"], (a, p)
        if a["seen_in_training"]:
            assert a["exact"] >= 0.98, a
    assert without[-2]["exact"] < 0.2  # lengths 31–40: one vector C cannot hold them


def test_checkpoints_carry_snapshots_vocabularies_and_bucket_metrics(shipped: Registry) -> None:
    for name in NAMES:
        entry = shipped_entry(shipped, name)
        steps = [s["step"] for s in entry.snapshots]
        assert (
            7 <= len(steps) <= 9
            and steps == sorted(steps)
            and steps[-1] == entry.checkpoint["provenance"]["steps"]
        )
        assert all(v.dtype.is_floating_point for s in entry.snapshots for v in s["state_dict"].values())
        assert set(entry.checkpoint["vocab"]) == {"source", "target"}
        for side in ("source", "target"):
            specials = entry.checkpoint["vocab"][side]["specials"]
            assert set(specials) == {"pad", "bos", "eos", "unk"}
        assert entry.path is not None and entry.path.stat().st_size < 4 * 2**20, "keep checkpoints small"
        assert entry.checkpoint["provenance"]["command"] == f"recurrent-lens train {name}"
    for name in ("copy-attention", "copy-plain"):
        buckets = shipped_entry(shipped, name).metrics["buckets"]
        assert [b["bucket"] for b in buckets] == [
            copy_task.bucket_label(lo, hi) for lo, hi in copy_task.BUCKETS
        ]
    assert shipped_entry(shipped, "dates").metrics["held_out_exact"] >= 0.995


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_is_in_models_dir(name: str) -> None:
    assert (REPO_ROOT / "models" / f"{name}.pt").is_file()
