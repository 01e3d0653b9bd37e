"""A toy translation where greedy decoding provably misses the most probable output: ``idioms``.

The source is a sentence of Spanish verbs; the target renders each verb in English, word by word,
in one of two ways (independently for each word)::

    literal    one token        mirar → look                         p = 0.4
    idiom      head + ending    mirar → take-a peek | glance | gander  p = 0.6 in total, 0.2 each

    >>> sample(random.Random(0), 2, 2)
    ('nadar pasear', 'swim take-a stroll')
    >>> round(true_probability("nadar pasear", "swim take-a stroll".split()), 6)
    0.08
    >>> true_best("nadar pasear"), round(true_probability("nadar pasear", ["swim", "walk"]), 6)
    (['swim', 'walk'], 0.16)

Why greedy goes wrong, exactly. At the first token of every word the choice is between the literal
(0.4) and the idiom's head (0.6, because all three endings share it), so a decoder that takes the
most probable token takes the head, and then one ending at 1/3: 0.6 × 1/3 = 0.2 for the word. The
literal is worth 0.4, twice as much. Words are independent, so the most probable whole output is
the all-literal one, P = 0.4ⁿ for n words, while greedy (on the true distribution) gets 0.2ⁿ: 2ⁿ
times less probable. Beam search keeps the literal branch alive past the first token and finds it
(or at least a mix with some literal words) — unless its width is too small.

The probabilities are known exactly (``true_probability``, ``true_best``), so the page shows the
true probability of every output next to what the trained network believes. The grammar also
exists as a ``Decoder`` on its own (``GrammarDecoder``), the exact distribution the network learns.

Held-out sentences: 10 % of all word sequences (by a CRC32 of the sentence) are never trained on.
Target tokens are unique across the lexicon (no ending is another verb's literal), so an output can
be read back into words without the source.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

P_LITERAL = 0.4  # the literal translation of a word
P_ENDING = 0.2  # each of the 3 idiom endings (head + ending), 0.6 in total
MIN_WORDS, MAX_WORDS = 1, 8  # sentence lengths in training and evaluation
SOURCE = (
    "generated: sentences of 1–8 Spanish verbs (16 verbs), each rendered literally (p = 0.4) "
    "or as an English idiom (3 × 0.2); 10 % of sentences held out"
)

Split = Literal["train", "held_out", "any"]


@dataclass(frozen=True)
class Entry:
    """How one source word may be rendered."""

    literal: str  # p = 0.4
    head: str  # shared by the idiom's three variants (p = 0.6 that the idiom starts)
    endings: tuple[str, str, str]  # p = 0.2 each (1/3 given the head)


LEXICON: dict[str, Entry] = {
    "mirar": Entry("look", "take-a", ("peek", "glance", "gander")),
    "pasear": Entry("walk", "take-a", ("stroll", "wander", "hike")),
    "descansar": Entry("rest", "take-a", ("break", "nap", "breather")),
    "viajar": Entry("travel", "take-a", ("trip", "tour", "journey")),
    "hablar": Entry("talk", "have-a", ("chat", "natter", "word")),
    "beber": Entry("drink", "have-a", ("sip", "swig", "gulp")),
    "comer": Entry("eat", "grab-a", ("bite", "snack", "meal")),
    "intentar": Entry("try", "give-it-a", ("go", "shot", "whirl")),
    "limpiar": Entry("clean", "give-it-a", ("wipe", "scrub", "polish")),
    "llamar": Entry("call", "give-a", ("ring", "buzz", "shout")),
    "empujar": Entry("push", "give-a", ("shove", "nudge", "heave")),
    "abrazar": Entry("hug", "give-a", ("cuddle", "squeeze", "embrace")),
    "decidir": Entry("decide", "make-a", ("choice", "decision", "pick")),
    "nadar": Entry("swim", "go-for-a", ("dip", "paddle", "plunge")),
    "correr": Entry("run", "go-for-a", ("jog", "sprint", "spin")),
    "dormir": Entry("sleep", "get-some", ("shut-eye", "kip", "zzz")),
}
WORDS = tuple(LEXICON)


def target_tokens() -> list[str]:
    """Every target token: literals, heads and endings (each once)."""
    out: list[str] = []
    for e in LEXICON.values():
        for tok in (e.literal, e.head, *e.endings):
            if tok not in out:
                out.append(tok)
    return out


def split_of(sentence: str) -> Split:
    """10 % of all sentences are held out, by a CRC32 of the text."""
    return "held_out" if zlib.crc32(sentence.encode()) % 10 == 0 else "train"


def render(words: Sequence[str], rng: random.Random) -> list[str]:
    """Draw one target from the grammar."""
    out: list[str] = []
    for w in words:
        e = LEXICON[w]
        u = rng.random()
        if u < P_LITERAL:
            out.append(e.literal)
        else:
            out += [e.head, e.endings[min(2, int((u - P_LITERAL) / P_ENDING))]]
    return out


def sample(
    rng: random.Random, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS, split: Split = "any"
) -> tuple[str, str]:
    """One (source, target) pair; ``split`` restricts the source sentence to train or held out."""
    while True:
        n = rng.randint(min_words, max_words)
        words = [rng.choice(WORDS) for _ in range(n)]
        source = " ".join(words)
        if split == "any" or split_of(source) == split:
            return source, " ".join(render(words, rng))


def generate(
    n: int, rng: random.Random, split: Split = "any", min_words: int = MIN_WORDS, max_words: int = MAX_WORDS
) -> list[tuple[str, str]]:
    return [sample(rng, min_words, max_words, split) for _ in range(n)]


def _words(source: str | Sequence[str]) -> list[str]:
    return source.split() if isinstance(source, str) else list(source)


def known(source: str | Sequence[str]) -> bool:
    """Every word of the source is in the lexicon (else the grammar says nothing about it)."""
    words = _words(source)
    return bool(words) and all(w in LEXICON for w in words)


def true_logprob(source: str | Sequence[str], target: Sequence[str]) -> float | None:
    """log P(target | source) under the grammar: −inf if it cannot produce that target, None if a
    source word is not in the lexicon. A trailing ``<eos>`` is allowed (the end is certain)."""
    words = _words(source)
    if not known(words):
        return None
    tokens = list(target)
    if tokens and tokens[-1] == "<eos>":
        tokens = tokens[:-1]
    total, i = 0.0, 0
    for w in words:
        e = LEXICON[w]
        if i < len(tokens) and tokens[i] == e.literal:
            total += math.log(P_LITERAL)
            i += 1
        elif i + 1 < len(tokens) and tokens[i] == e.head and tokens[i + 1] in e.endings:
            total += math.log(P_ENDING)
            i += 2
        else:
            return -math.inf
    return total if i == len(tokens) else -math.inf


def true_probability(source: str | Sequence[str], target: Sequence[str]) -> float | None:
    lp = true_logprob(source, target)
    return None if lp is None else math.exp(lp)


def true_best(source: str | Sequence[str]) -> list[str]:
    """The most probable target: every word literal (0.4 > 0.2 for any one idiom)."""
    return [LEXICON[w].literal for w in _words(source)]


class GrammarDecoder:
    """The grammar itself as a ``Decoder`` (app.decoding): exact next-token log-probabilities.

    State per row: (index of the current source word, 1 if an idiom head was just written).
    Tokens the grammar cannot produce get log-prob −1e9 (finite, so top-k stays well defined).
    """

    IMPOSSIBLE = -1e9

    def __init__(self, source: str | Sequence[str], tokens: Sequence[str]) -> None:
        self.words = _words(source)
        if not known(self.words):
            raise ValueError("every source word must be in the lexicon")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.bos, self.eos = self.index["<bos>"], self.index["<eos>"]

    def initial(self) -> Tensor:
        return torch.zeros(1, 2, dtype=torch.long)  # (B, 2): word index, head pending

    def _advance(self, word: int, pending: int, token: int) -> tuple[int, int]:
        if token == self.bos or word >= len(self.words):
            return word, pending
        if pending:
            return word + 1, 0
        return (word + 1, 0) if self.tokens[token] == LEXICON[self.words[word]].literal else (word, 1)

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        B = tokens.shape[0]
        logp = torch.full((B, len(self.tokens)), self.IMPOSSIBLE, dtype=torch.float64)
        new = state.clone()
        for b in range(B):
            word, pending = self._advance(int(state[b, 0]), int(state[b, 1]), int(tokens[b]))
            new[b, 0], new[b, 1] = word, pending
            if word >= len(self.words):
                logp[b, self.eos] = 0.0
                continue
            e = LEXICON[self.words[word]]
            if pending:
                for ending in e.endings:
                    logp[b, self.index[ending]] = math.log(1 / 3)
            else:
                logp[b, self.index[e.literal]] = math.log(P_LITERAL)
                logp[b, self.index[e.head]] = math.log(1 - P_LITERAL)
        return logp, new

    def select(self, state: Tensor, rows: Tensor) -> Tensor:
        return state[rows]
