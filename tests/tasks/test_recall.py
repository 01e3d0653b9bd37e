"""The delayed-recall task: seeded, well-formed, and the checker names what is wrong."""

from __future__ import annotations

import doctest
import random

import pytest
import torch

from app.tasks import recall


def test_docstring_example_holds() -> None:
    failures, _ = doctest.testmod(recall)
    assert failures == 0


@pytest.mark.parametrize("delay", [0, 1, 5, 100])
def test_samples_are_well_formed_and_seeded(delay: int) -> None:
    a = [recall.sample(random.Random(3), delay) for _ in range(5)]
    b = [recall.sample(random.Random(3), delay) for _ in range(5)]
    assert a == b
    for ex in a:
        assert len(ex.text) == delay + 2 and ex.text[0] == ex.target and recall.check(ex.text) is None


def test_batch_encodes_the_same_task() -> None:
    v = recall.vocab()
    ids, targets = recall.batch(torch.Generator().manual_seed(0), 7, 500)
    assert ids.shape == (9, 500) and targets.shape == (500,)
    again, _ = recall.batch(torch.Generator().manual_seed(0), 7, 500)
    assert torch.equal(ids, again)
    for b in range(20):
        text = "".join(v.tokens[i] for i in ids[:, b].tolist())
        assert recall.check(text) is None and text[0] == recall.SYMBOLS[int(targets[b])]
    # Every symbol and digit occurs: the task is not accidentally restricted.
    assert set(targets.tolist()) == set(range(8))
    assert len(set(ids[1:-1].flatten().tolist())) == 10


def test_vocab_and_chance() -> None:
    v = recall.vocab()
    assert len(v) == 20 and v.specials == {"unk": recall.UNK}
    assert recall.CHANCE == 1 / 8


@pytest.mark.parametrize(
    "text,words",
    [
        ("", ["symbol"]),
        ("A", ["symbol"]),
        ("a12?", ["start", "'a'"]),
        ("A12", ["end", "'2'"]),
        ("A1b2?", ["character 2", "'b'"]),
        ("AB?", ["character 1"]),
    ],
)
def test_check_names_the_problem(text: str, words: list[str]) -> None:
    problem = recall.check(text)
    assert problem is not None
    for word in words:
        assert word in problem


def test_check_accepts_the_shortest_sequence() -> None:
    assert recall.check("H?") is None
