"""Cloze on Shakespeare: fill in one blanked-out character from the text on both sides of it.

The seed material's example is "I _ want to eat lamb": the blank needs the words on BOTH sides.
Here the units are characters of the shipped Shakespeare text (``app.tasks.shakespeare``, the same
held-out plays as the LSTM page), and ``_`` marks the blank::

    >>> vocab = build_vocab("To be, or not to be")
    >>> enc = encode_cloze(vocab, "To be, or n_t to be")
    >>> enc.blank_index, enc.tokens[enc.blank_index], enc.ids[enc.blank_index] == vocab.special_id("blank")
    (11, '_', True)

The target of that example is ``o``; a model reads ``enc.ids`` (the blank is one token of its own)
and predicts the character at ``enc.blank_index``.

How the blank is represented (the same in training and in the API):

* The vocabulary's special role ``blank`` is the character ``_``, id 1 (``unk`` is id 0). A typed
  ``_`` therefore always means "the blank"; exactly one is allowed (``BlankError`` otherwise).
* ``_`` also occurs in the corpus 65 times: a rule line of 63 underscores in *The Rape of
  Lucrece* and the italics marks of ``_tremor cordis_`` in *The Winter's Tale* (never in the
  held-out plays). Those literal underscores are read as the unknown token ``unk``,
  like any character the vocabulary lacks, and are never chosen as a target. So the blank
  embedding only ever means "the character to fill in".
* Any other character the vocabulary does not know reads as ``unk`` and is reported in
  ``unknown`` (the UI marks it), as on the other pages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor

from app.tasks.vocab import Vocab

BLANK = "_"
SPECIALS = {"unk": "\ufffd", "blank": BLANK}
CONTEXT = 30  # characters of context per side in the headline metric (the reference)


class BlankError(ValueError):
    """The text does not mark exactly one blank; the message says how to fix it."""


@dataclass(frozen=True)
class ClozeInput:
    """Token ids as the model sees them, the tokens as typed, unknown positions, and the blank."""

    ids: list[int]
    tokens: list[str]
    unknown: list[int]
    blank_index: int


def build_vocab(text: str) -> Vocab:
    """The characters of ``text`` plus the specials ``unk`` (id 0) and ``blank`` = ``_`` (id 1)."""
    return Vocab.build(text, specials=SPECIALS)


def encode_cloze(vocab: Vocab, text: str) -> ClozeInput:
    """Encode a text that marks exactly one blank with ``_``; ``BlankError`` if it marks 0 or ≥ 2."""
    blanks = [i for i, ch in enumerate(text) if ch == BLANK]
    if not blanks:
        raise BlankError(
            f"the text has no blank: mark the one character to fill in with {BLANK} "
            f"(for example “wherefore art thou R{BLANK}meo”)"
        )
    if len(blanks) > 1:
        where = ", ".join(str(i) for i in blanks[:8]) + (", …" if len(blanks) > 8 else "")
        raise BlankError(
            f"the text has {len(blanks)} blanks (at characters {where}), but the model fills in "
            f"exactly one: keep one {BLANK}"
        )
    enc = vocab.encode(text)
    ids = list(enc.ids)
    ids[blanks[0]] = vocab.special_id("blank")
    unknown = [i for i in enc.unknown if i != blanks[0]]
    return ClozeInput(ids, enc.tokens, unknown, blanks[0])


def encode_corpus(vocab: Vocab, text: str) -> Tensor:
    """A whole text as ids (T,): literal ``_`` and unknown characters become ``unk``, never blank."""
    return torch.tensor(vocab.encode(text).ids)


def target_positions(ids: Tensor, context: int, vocab: Vocab) -> Tensor:
    """Positions with ``context`` characters on both sides whose character is a regular one."""
    specials = torch.tensor([vocab.id(t) for t in vocab.specials.values()])
    positions = torch.arange(context, len(ids) - context)
    return positions[~torch.isin(ids[positions], specials)]


def sample_positions(ids: Tensor, context: int, count: int, seed: int, vocab: Vocab) -> Tensor:
    """``count`` distinct positions (sorted) with full context, drawn with ``random.Random(seed)``."""
    candidates = target_positions(ids, context, vocab).tolist()
    chosen = random.Random(seed).sample(candidates, min(count, len(candidates)))
    return torch.tensor(sorted(chosen))


def centred_windows(ids: Tensor, positions: Tensor, context: int, blank_id: int) -> tuple[Tensor, Tensor]:
    """Windows of ``context`` characters, the blank, ``context`` characters, centred on ``positions``.

    Returns (windows (2k+1, N) with the blank at row k, targets (N,)), time-major as nn.LSTM reads.
    """
    offsets = torch.arange(-context, context + 1)
    windows = ids[positions[None, :] + offsets[:, None]].clone()  # (2k+1, N)
    targets = windows[context].clone()
    windows[context] = blank_id
    return windows, targets


def random_windows(ids: Tensor, count: int, width: int, generator: torch.Generator) -> Tensor:
    """``count`` random windows of ``width`` consecutive ids, (width, count), time-major."""
    starts = torch.randint(0, len(ids) - width + 1, (count,), generator=generator)
    return ids[starts[None, :] + torch.arange(width)[:, None]]
