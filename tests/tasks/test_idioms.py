"""The idioms grammar: seeded data, exact probabilities, and the claim the beam page rests on —
greedy on the grammar takes every idiom (0.2ⁿ) while the most probable output is all literal (0.4ⁿ)."""

from __future__ import annotations

import doctest
import itertools
import math
import random

import pytest
import torch

from app.decoding import beam_search, greedy
from app.tasks import idioms

TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", *idioms.target_tokens()]


def test_docstring_example() -> None:
    result = doctest.testmod(idioms)
    assert result.attempted >= 3 and result.failed == 0


def test_lexicon_is_unambiguous() -> None:
    assert len(idioms.WORDS) == 16
    tokens = idioms.target_tokens()
    literals = {e.literal for e in idioms.LEXICON.values()}
    heads = {e.head for e in idioms.LEXICON.values()}
    endings = [x for e in idioms.LEXICON.values() for x in e.endings]
    assert len(endings) == len(set(endings)) == 48, "an ending belongs to one verb"
    assert not (literals & heads) and not (literals & set(endings)) and not (heads & set(endings))
    assert len(tokens) == len(set(tokens)) == len(literals) + len(heads) + len(endings)
    assert idioms.P_LITERAL + 3 * idioms.P_ENDING == pytest.approx(1.0)
    assert 3 * idioms.P_ENDING > idioms.P_LITERAL > idioms.P_ENDING, (
        "the head wins locally, the literal overall"
    )


def test_samples_follow_the_grammar_and_the_split() -> None:
    rng = random.Random(0)
    pairs = idioms.generate(3000, rng, "train")
    assert idioms.generate(5, random.Random(4)) == idioms.generate(5, random.Random(4))
    for source, target in pairs:
        words = source.split()
        assert idioms.MIN_WORDS <= len(words) <= idioms.MAX_WORDS
        assert idioms.split_of(source) == "train"
        lp = idioms.true_logprob(source, target.split())
        assert lp is not None and lp > -math.inf, (source, target)
    first = [t.split()[0] == idioms.LEXICON[s.split()[0]].literal for s, t in pairs]
    assert sum(first) / len(first) == pytest.approx(0.4, abs=0.03)
    held = idioms.generate(300, random.Random(1), "held_out")
    assert all(idioms.split_of(s) == "held_out" for s, _ in held)
    share = sum(idioms.split_of(" ".join(w)) == "held_out" for w in itertools.product(idioms.WORDS, repeat=2))
    assert 0.05 < share / 256 < 0.16


def test_true_probabilities_sum_to_one_and_reject_the_impossible() -> None:
    source = "mirar comer"
    options = [
        [[e.literal], *([e.head, x] for x in e.endings)] for e in (idioms.LEXICON[w] for w in source.split())
    ]
    total = 0.0
    for a, b in itertools.product(*options):
        p = idioms.true_probability(source, [*a, *b])
        assert p is not None
        total += p
    assert total == pytest.approx(1.0)
    assert idioms.true_probability(source, ["look", "eat", "<eos>"]) == pytest.approx(0.16)
    assert idioms.true_probability(source, ["eat", "look"]) == 0.0  # wrong order
    assert idioms.true_probability(source, ["look"]) == 0.0  # too short
    assert idioms.true_probability(source, ["look", "grab-a", "peek"]) == 0.0  # another verb's ending
    assert idioms.true_probability("mirar volar", ["look", "fly"]) is None  # not in the grammar
    assert idioms.true_best(source) == ["look", "eat"]


@pytest.mark.parametrize("seed", range(3))
def test_grammar_decoder_is_the_grammar(seed: int) -> None:
    rng = random.Random(seed)
    for source, target in idioms.generate(30, rng):
        dec = idioms.GrammarDecoder(source, TOKENS)
        state, prev, total = dec.initial(), [dec.bos], 0.0
        for tok in [*target.split(), "<eos>"]:
            logp, state = dec.step(torch.tensor(prev), state)
            total += float(logp[0, TOKENS.index(tok)])
            prev = [TOKENS.index(tok)]
        assert total == pytest.approx(idioms.true_logprob(source, target.split()))


def test_greedy_takes_every_idiom_and_beam_search_does_better() -> None:
    """On the exact distribution: greedy's output has P = 0.2ⁿ, the best 0.4ⁿ, and beam search of
    width 5 beats greedy on every sentence."""
    rng = random.Random(7)
    found_best = 0
    for source, _ in idioms.generate(100, rng):
        n = len(source.split())
        dec = idioms.GrammarDecoder(source, TOKENS)
        g = greedy(dec, 2 * n + 1)
        g_tokens = [TOKENS[i] for i in g.tokens]
        assert all(t in {idioms.LEXICON[w].head for w in source.split()} for t in g_tokens[0:-1:2])
        assert idioms.true_probability(source, g_tokens) == pytest.approx(idioms.P_ENDING**n)
        b = beam_search(dec, 5, 2 * n + 1).hypotheses[0]
        b_prob = idioms.true_probability(source, [TOKENS[i] for i in b.tokens])
        assert b_prob is not None and b_prob > idioms.P_ENDING**n * 1.5
        found_best += b_prob == pytest.approx(idioms.P_LITERAL**n)
    assert 0 < found_best < 100  # width 5 is not always enough


@pytest.mark.parametrize("source", ["hablar", "mirar pasear", "nadar correr dormir"])
def test_a_wide_enough_beam_finds_the_all_literal_output(source: str) -> None:
    n = len(source.split())
    best = beam_search(idioms.GrammarDecoder(source, TOKENS), 16, 2 * n + 1).hypotheses[0]
    assert [TOKENS[i] for i in best.tokens] == [*idioms.true_best(source), "<eos>"]
    assert math.exp(best.logprob) == pytest.approx(idioms.P_LITERAL**n)
