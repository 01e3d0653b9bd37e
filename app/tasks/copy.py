"""Copy a string of symbols: the task that shows the fixed-vector bottleneck of Seq2Seq.

The target is the source itself, so the only difficulty is memory: a decoder without attention
must squeeze the whole string into one vector C; with attention it can look each symbol up again::

    >>> rng = random.Random(0)
    >>> sample(rng, 5, 8)
    ('nbiqpmjp', 'nbiqpmjp')

20 symbols (``a``–``t``); training lengths 5–40; metrics per length bucket, including lengths
longer than any seen in training (41–50).
"""

from __future__ import annotations

import random

SYMBOLS = "abcdefghijklmnopqrst"  # 20 symbols
MIN_LENGTH, MAX_LENGTH = 5, 40  # training lengths
BUCKETS = ((5, 10), (11, 20), (21, 30), (31, 40), (41, 50))  # the last is longer than training
SOURCE = "generated: uniform random strings over 20 symbols (a–t), lengths 5–40"


def sample(rng: random.Random, min_length: int = MIN_LENGTH, max_length: int = MAX_LENGTH) -> tuple[str, str]:
    """One (source, target) pair: a random string of uniform length in [min_length, max_length]."""
    n = rng.randint(min_length, max_length)
    text = "".join(rng.choice(SYMBOLS) for _ in range(n))
    return text, text


def generate(
    n: int, rng: random.Random, min_length: int = MIN_LENGTH, max_length: int = MAX_LENGTH
) -> list[tuple[str, str]]:
    return [sample(rng, min_length, max_length) for _ in range(n)]


def bucket_label(lo: int, hi: int) -> str:
    return f"{lo}–{hi}"
