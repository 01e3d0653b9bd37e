"""The copy task: 20 symbols, training lengths 5–40, seeded, buckets past the training lengths."""

from __future__ import annotations

import doctest
import random

from app.tasks import copy


def test_docstring_example() -> None:
    result = doctest.testmod(copy)
    assert result.attempted >= 2 and result.failed == 0


def test_strings_copy_themselves_within_the_length_range() -> None:
    assert len(copy.SYMBOLS) == len(set(copy.SYMBOLS)) == 20
    pairs = copy.generate(2000, random.Random(0))
    lengths = {len(s) for s, _ in pairs}
    assert min(lengths) == 5 and max(lengths) == 40
    assert all(s == t and set(s) <= set(copy.SYMBOLS) for s, t in pairs)
    assert copy.generate(20, random.Random(1)) == copy.generate(20, random.Random(1))
    assert copy.generate(20, random.Random(1)) != copy.generate(20, random.Random(2))


def test_buckets_cover_training_lengths_and_beyond() -> None:
    assert copy.BUCKETS[0][0] == copy.MIN_LENGTH
    assert any(lo <= copy.MAX_LENGTH <= hi for lo, hi in copy.BUCKETS)
    assert copy.BUCKETS[-1][0] > copy.MAX_LENGTH
    assert all(a[1] + 1 == b[0] for a, b in zip(copy.BUCKETS, copy.BUCKETS[1:], strict=False))
