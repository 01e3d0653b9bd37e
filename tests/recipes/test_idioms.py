"""Quality of the shipped ``idioms`` checkpoint on FRESH held-out sentences (never the recipe's own
evaluation set), and the undertrained ``dates`` snapshot the beam page offers."""

from __future__ import annotations

import random

import torch

from app.checkpoints import Registry
from app.decoding import Seq2SeqDecoder, beam_search, greedy
from app.nets.seq2seq import Seq2Seq
from app.recipes.idioms import calibration, compare
from app.tasks import dates as dates_task
from app.tasks import idioms as task
from app.tasks.vocab import Vocab
from tests.conftest import shipped_entry


def parts(shipped: Registry, name: str) -> tuple[Seq2Seq, Vocab, Vocab]:
    entry = shipped_entry(shipped, name)
    assert isinstance(entry.net, Seq2Seq)
    vocab = entry.checkpoint["vocab"]
    return entry.net, Vocab.from_dict(vocab["source"]), Vocab.from_dict(vocab["target"])


def test_beam_finds_more_probable_outputs_than_greedy_and_greedy_never_wins(shipped: Registry) -> None:
    net, source, target = parts(shipped, "idioms")
    rng = random.Random("quality-test-idioms")
    sentences = [s for s, _ in task.generate(200, rng, "held_out")]
    c = compare(net, source, target, sentences)
    assert c["greedy_grammatical"] == c["beam5_grammatical"] == 200, "every output is a valid translation"
    assert c["beam5_more_probable"] >= 180, c  # reference: 485 of 500
    assert c["greedy_more_probable_than_beam5"] == 0, c
    assert c["greedy_true_best"] <= 2, "greedy takes the idiom heads"
    assert c["beam5_true_best"] >= 20, c


def test_the_network_learned_the_grammars_probabilities(shipped: Registry) -> None:
    net, source, target = parts(shipped, "idioms")
    pairs = task.generate(400, random.Random("quality-test-calibration"), "held_out")
    cal = calibration(net, source, target, pairs)
    assert abs(cal["literal"] - task.P_LITERAL) < 0.03, cal
    assert abs(cal["head"] - (1 - task.P_LITERAL)) < 0.03, cal
    assert abs(cal["ending"] - 1 / 3) < 0.03, cal
    assert cal["eos"] > 0.98, cal


def test_an_undertrained_dates_snapshot_where_beam_fixes_greedy(shipped: Registry) -> None:
    """The page's example: at training step 168 the dates model still errs, and beam search of
    width 5 repairs more of greedy's mistakes than it introduces, on fresh held-out days."""
    entry = shipped_entry(shipped, "dates")
    steps = [int(s["step"]) for s in entry.snapshots]
    assert 168 in steps, steps
    net = entry.snapshot_net(steps.index(168))
    source = Vocab.from_dict(entry.checkpoint["vocab"]["source"])
    target = Vocab.from_dict(entry.checkpoint["vocab"]["target"])
    examples = dates_task.generate(
        150, random.Random("quality-test-beam-dates"), "held_out", variant_rate=0.0
    )
    fixed = broke = 0
    with torch.inference_mode():
        for e in examples:
            decoder = Seq2SeqDecoder(net, net.encode(torch.tensor(source.encode(e.source).ids)))
            g = target.decode(greedy(decoder, 16).tokens)
            b = target.decode(beam_search(decoder, 5, 16).hypotheses[0].tokens)
            fixed += g != e.target and b == e.target
            broke += g == e.target and b != e.target
    assert fixed >= 3 and fixed > broke, (fixed, broke)
    example = "28/10/2006"  # the page's example chip
    decoder = Seq2SeqDecoder(net, net.encode(torch.tensor(source.encode(example).ids)))
    assert target.decode(greedy(decoder, 16).tokens) != "2006-10-28"
    assert target.decode(beam_search(decoder, 5, 16).hypotheses[0].tokens) == "2006-10-28"
