"""The cloze task: how the blank is encoded, in the API and in training, and the held-out windows."""

from __future__ import annotations

import doctest

import pytest
import torch

from app.tasks import cloze
from app.tasks.cloze import (
    BlankError,
    build_vocab,
    centred_windows,
    encode_cloze,
    encode_corpus,
    sample_positions,
)


def test_docstring_example() -> None:
    assert doctest.testmod(cloze).failed == 0


def test_typed_underscore_is_the_blank_and_unknowns_are_marked() -> None:
    vocab = build_vocab("abc de_f")  # a literal _ in the corpus
    assert vocab.special_id("unk") == 0 and vocab.special_id("blank") == 1 and vocab.tokens[1] == "_"
    enc = encode_cloze(vocab, "a\u00e9_b")
    assert enc.blank_index == 2 and enc.tokens == ["a", "\u00e9", "_", "b"]
    assert enc.ids[2] == 1 and enc.ids[1] == 0 and enc.unknown == [1]


def test_corpus_underscore_reads_as_unknown_never_as_the_blank() -> None:
    vocab = build_vocab("ab_ba")
    ids = encode_corpus(vocab, "a_b")
    assert ids.tolist() == [vocab.id("a"), vocab.special_id("unk"), vocab.id("b")]
    assert vocab.special_id("blank") not in ids.tolist()


@pytest.mark.parametrize(
    "text,words",
    [("no blank here", ["no blank", "_"]), ("a_b_c", ["2 blanks", "1, 3", "one _"]), ("___", ["3 blanks"])],
)
def test_zero_or_several_blanks_are_refused_readably(text: str, words: list[str]) -> None:
    with pytest.raises(BlankError) as err:
        encode_cloze(build_vocab("abc "), text)
    for word in words:
        assert word in str(err.value)


def test_centred_windows_and_positions() -> None:
    text = "abcdefghij" * 5
    vocab = build_vocab(text)
    ids = encode_corpus(vocab, text)
    positions = sample_positions(ids, 3, 10, seed=4, vocab=vocab)
    assert positions.tolist() == sample_positions(ids, 3, 10, seed=4, vocab=vocab).tolist()
    assert positions.min() >= 3 and positions.max() < len(ids) - 3
    windows, targets = centred_windows(ids, positions, 3, vocab.special_id("blank"))
    assert windows.shape == (7, len(positions))
    assert torch.equal(targets, ids[positions])
    assert (windows[3] == vocab.special_id("blank")).all()
    assert torch.equal(windows[:3], torch.stack([ids[positions - k] for k in (3, 2, 1)]))
    assert torch.equal(windows[4:], torch.stack([ids[positions + k] for k in (1, 2, 3)]))


def test_positions_skip_unknown_targets() -> None:
    vocab = build_vocab("ab")
    ids = encode_corpus(vocab, "ab_ab_ab_ab")
    positions = sample_positions(ids, 1, 100, seed=0, vocab=vocab)
    assert all(ids[p] != vocab.special_id("unk") for p in positions.tolist())
