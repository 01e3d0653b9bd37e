"""Delayed recall: remember the first symbol through T distractor steps, then output it.

The long-time-lag test of Hochreiter & Schmidhuber (1997, experiment 2) in its simplest form, and
the task behind the vanishing-gradient lab. A sequence is one symbol (A–H), then ``delay`` random
distractor digits (0–9), then the query mark ``?``; at the query the model must answer the symbol.
The loss sits on that last step only, so the error signal for "what was the first symbol" has to
travel back through all T distractor steps. Guessing gives 1/8 (``CHANCE``)::

    >>> import random
    >>> sample(random.Random(0), delay=10)
    Example(text='G6048764759?', target='G')
    >>> vocab().encode("G36?").ids
    [7, 12, 15, 19]

Inputs are one-hot over ``vocab()`` (unknown token, 8 symbols, 10 digits, ``?``); outputs are the
8 symbols (``SYMBOLS``, class k is ``SYMBOLS[k]``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from app.tasks.vocab import Vocab

SYMBOLS = "ABCDEFGH"
DISTRACTORS = "0123456789"
QUERY = "?"
UNK = "\ufffd"
CHANCE = 1 / len(SYMBOLS)
DELAYS = (5, 10, 20, 50, 100)  # the delays every recall model is trained at


@dataclass(frozen=True)
class Example:
    text: str  # symbol, distractors, "?"
    target: str  # the symbol to recall


def vocab() -> Vocab:
    """The input vocabulary: unknown token, symbols, digits, query mark (ids 0, 1–8, 9–18, 19)."""
    return Vocab((UNK, *SYMBOLS, *DISTRACTORS, QUERY), "char", {"unk": UNK})


def sample(rng: random.Random, delay: int) -> Example:
    """One example with ``delay`` distractors."""
    symbol = rng.choice(SYMBOLS)
    noise = "".join(rng.choice(DISTRACTORS) for _ in range(delay))
    return Example(symbol + noise + QUERY, symbol)


def batch(gen: torch.Generator, delay: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` examples as time-major input ids (delay + 2, size) and target classes (size,)."""
    v = vocab()
    first_symbol, first_digit = v.id(SYMBOLS[0]), v.id(DISTRACTORS[0])
    targets = torch.randint(0, len(SYMBOLS), (size,), generator=gen)
    noise = torch.randint(0, len(DISTRACTORS), (delay, size), generator=gen) + first_digit
    query = torch.full((1, size), v.id(QUERY))
    ids = torch.cat([(targets + first_symbol)[None], noise, query])  # (T+2, B)
    return ids, targets


def check(text: str) -> str | None:
    """Why ``text`` is not a recall sequence (symbol, distractor digits, "?"), or None if it is one."""
    example = "for example 'C4071?'"
    if len(text) < 2:
        return f"needs a symbol {SYMBOLS[0]}–{SYMBOLS[-1]} and a final '{QUERY}' at least ({example})"
    if text[0] not in SYMBOLS:
        return f"must start with a symbol {SYMBOLS[0]}–{SYMBOLS[-1]}, not {text[0]!r} ({example})"
    if text[-1] != QUERY:
        return f"must end with the query mark '{QUERY}', not {text[-1]!r} ({example})"
    for pos, ch in enumerate(text[1:-1], start=1):
        if ch not in DISTRACTORS:
            return f"character {pos} is {ch!r}; between the symbol and '{QUERY}' only digits 0–9 may stand"
    return None
