"""Beam search invariants on tiny random decoders (issue: greedy vs beam)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor, nn

from app.decoding import beam_search, greedy, length_penalty


class ToyDecoder:
    """A tiny random LSTM language model over ``vocab`` tokens; 0 is BOS, 1 is EOS."""

    bos, eos = 0, 1

    def __init__(self, vocab: int = 4, hidden: int = 8, seed: int = 0, temperature: float = 1.0) -> None:
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, 5)
        self.cell = nn.LSTMCell(5, hidden)
        self.head = nn.Linear(hidden, vocab)
        self.temperature = temperature
        self.calls = 0
        self.rows: list[int] = []

    def initial(self) -> tuple[Tensor, Tensor]:
        return torch.zeros(1, self.cell.hidden_size), torch.zeros(1, self.cell.hidden_size)

    def step(self, tokens: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        self.calls += 1
        self.rows.append(int(tokens.shape[0]))
        h, c = self.cell(self.embed(tokens), state)
        return torch.log_softmax(self.head(h) / self.temperature, dim=-1), (h, c)

    def select(self, state: tuple[Tensor, Tensor], rows: Tensor) -> tuple[Tensor, Tensor]:
        return state[0][rows], state[1][rows]

    @torch.no_grad()
    def sequence_logprob(self, tokens: list[int]) -> float:
        state, prev, total = self.initial(), torch.tensor([self.bos]), 0.0
        for tok in tokens:
            logp, state = self.step(prev, state)
            total += float(logp[0, tok])
            prev = torch.tensor([tok])
        return total


def exhaustive_best(dec: ToyDecoder, vocab: int, max_length: int, alpha: float) -> tuple[list[int], float]:
    """Every output up to max_length tokens (ending at EOS, or unfinished at max_length)."""
    best: tuple[list[int], float] | None = None
    others = [t for t in range(vocab) if t != dec.eos]
    candidates: list[list[int]] = []
    for length in range(1, max_length + 1):
        candidates += [[*body, dec.eos] for body in itertools.product(others, repeat=length - 1)]
    candidates += [list(body) for body in itertools.product(others, repeat=max_length)]
    for seq in candidates:
        lp = dec.sequence_logprob(seq)
        score = lp / float(length_penalty(len(seq), alpha))
        if best is None or score > best[1]:
            best = (seq, score)
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_width_one_is_greedy(seed: int, alpha: float) -> None:
    dec = ToyDecoder(vocab=6, seed=seed)
    g = greedy(dec, 12)
    b = beam_search(dec, 1, 12, alpha)
    top = b.hypotheses[0]
    assert top.tokens == g.tokens
    assert top.logprob == pytest.approx(g.logprob, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_equals_exhaustive_search(seed: int, alpha: float) -> None:
    vocab, max_length = 3, 4  # 1+2+4+8 finished + 16 unfinished = 31 possible outputs
    dec = ToyDecoder(vocab=vocab, seed=seed, temperature=0.5)
    best_tokens, best_score = exhaustive_best(dec, vocab, max_length, alpha)
    result = beam_search(dec, 32, max_length, alpha)
    assert result.hypotheses[0].tokens == best_tokens
    assert result.hypotheses[0].score == pytest.approx(best_score, abs=1e-6)


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8])
def test_tree_invariants(width: int) -> None:
    dec = ToyDecoder(vocab=7, seed=width)
    result = beam_search(dec, width, 10, 0.7)
    by_id: dict[int, tuple[float, int]] = {}
    for t, step in enumerate(result.steps):
        scores = step.score.tolist()
        assert scores == sorted(scores, reverse=True), "candidates are ranked by score"
        assert step.kept.tolist() == [r <= width for r in step.rank.tolist()], "kept = the top k by score"
        assert step.finished.tolist() == (step.kept & (step.token == dec.eos)).tolist()
        for cid, parent, lp, tlp in zip(
            step.ids.tolist(),
            step.parent.tolist(),
            step.logprob.tolist(),
            step.token_logprob.tolist(),
            strict=True,
        ):
            if t == 0:
                assert parent == -1 and lp == pytest.approx(tlp)
            else:
                assert lp == pytest.approx(by_id[parent][0] + tlp, abs=1e-9), "cumulative log-probs add up"
                assert by_id[parent][1] == t - 1
            by_id[cid] = (lp, t)
        live = int((step.kept & ~step.finished).sum())
        assert step.ids.shape[0] <= max(1, width) * 2 * width
        if t + 1 < len(result.steps):
            assert dec.rows[t + 1] == live, "one decoder call per step, one row per live beam"
    assert dec.calls == len(result.steps)
    scores = [h.score for h in result.hypotheses]
    assert scores == sorted(scores, reverse=True)
    for h in result.hypotheses:
        assert h.logprob == pytest.approx(dec.sequence_logprob(h.tokens), abs=1e-5)
        assert h.score == pytest.approx(h.logprob / float(length_penalty(len(h.tokens), 0.7)), abs=1e-9)
        assert h.finished == (h.tokens[-1] == dec.eos)


def test_tree_dicts_and_n_best() -> None:
    dec = ToyDecoder(vocab=5, seed=3)
    result = beam_search(dec, 3, 6, 0.0, n_best=2)
    assert len(result.hypotheses) <= 2
    tree = result.tree()
    first = tree[0]["candidates"]
    assert all(c["parent"] is None for c in first)
    for step in tree:
        for c in step["candidates"]:
            assert (c["pruned_rank"] is None) == c["kept"]
            if not c["kept"]:
                assert c["pruned_rank"] > 3
            assert math.isfinite(c["logprob"])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alpha", [0.0, 0.8])
@pytest.mark.parametrize("n_best", [1, 3])
def test_early_stop_keeps_the_n_best_of_running_to_max_length(seed: int, alpha: float, n_best: int) -> None:
    """Stopping once no live beam can beat the n-th finished hypothesis changes nothing in the n-best."""
    dec = ToyDecoder(vocab=6, seed=seed, temperature=0.7)
    stopped = beam_search(dec, 4, 14, alpha, n_best=n_best)
    full = beam_search(dec, 4, 14, alpha, n_best=10**9)  # never enough finished: runs to the end
    assert full.stop_reason in ("max_length", "all ended")
    assert [h.tokens for h in stopped.hypotheses] == [h.tokens for h in full.hypotheses[:n_best]]
    assert [h.score for h in stopped.hypotheses] == [h.score for h in full.hypotheses[:n_best]]
    assert len(stopped.steps) <= len(full.steps)
    for a, b in zip(stopped.steps, full.steps, strict=False):  # the same tree, only shorter
        assert a.token.tolist() == b.token.tolist() and a.n_kept == b.n_kept


def test_stop_reasons_and_unfinished_hypotheses_at_max_length() -> None:
    dec = ToyDecoder(vocab=5, seed=1, temperature=3.0)  # flat: EOS is rarely among the best
    result = beam_search(dec, 3, 4, 0.0)
    assert result.stop_reason == "max_length" and len(result.steps) == 4
    unfinished = [h for h in result.hypotheses if not h.finished]
    assert unfinished and all(len(h.tokens) == 4 and h.tokens[-1] != dec.eos for h in unfinished)
    for h in result.hypotheses:  # each hypothesis ends at a kept node of the tree
        assert h.node is not None
        t = len(h.tokens) - 1
        j = h.node - result.steps[t].first_id
        assert result.steps[t].kept[j] and int(result.steps[t].token[j]) == h.tokens[-1]
    from app.tasks import idioms

    grammar = idioms.GrammarDecoder("mirar pasear", ["<pad>", "<bos>", "<eos>", *idioms.target_tokens()])
    assert beam_search(grammar, 1, 30).stop_reason == "all ended"  # the one beam wrote EOS
    assert beam_search(grammar, 3, 30).stop_reason == "n-best complete"


@pytest.mark.parametrize("width", [1, 2, 4])
def test_path_finds_greedy_in_the_tree_until_the_beam_pruned_it(width: int) -> None:
    dec = ToyDecoder(vocab=7, seed=11, temperature=0.8)
    g = greedy(dec, 12)
    result = beam_search(dec, width, 12, 0.0)
    nodes = result.path(g.tokens)
    assert len(nodes) == len(g.tokens) and nodes[0] is not None
    parent = -1
    for t, node in enumerate(nodes):
        if node is None:
            assert all(n is None for n in nodes[t:]), "once off the tree, always off"
            prev = nodes[t - 1]
            assert (
                t >= len(result.steps)
                or prev is None
                or not bool(result.steps[t - 1].kept[prev - result.steps[t - 1].first_id])
            ), "greedy leaves the tree only after its prefix was pruned"
            break
        s = result.steps[t]
        j = node - s.first_id
        assert int(s.parent[j]) == parent and int(s.token[j]) == g.tokens[t]
        parent = node
    if width == 1:
        assert None not in nodes


def test_seq2seq_adapter_equals_the_nets_own_greedy_decode() -> None:
    from app.decoding import Seq2SeqDecoder
    from app.nets.seq2seq import Seq2Seq, greedy_decode

    torch.manual_seed(3)
    for attention in (True, False):
        net = Seq2Seq(
            11, 9, embed_size=6, hidden_size=5, decoder_size=7, attention_size=4, attention=attention
        )
        net.eval()
        for length in (1, 4, 9):
            src = torch.randint(4, 11, (length,))
            memory = net.encode(src)
            decoder = Seq2SeqDecoder(net, memory)
            mine = greedy(decoder, 15)
            theirs = greedy_decode(net, memory, 15)
            assert mine.tokens == theirs.row(0)
            assert mine.finished == bool(theirs.finished[0])
            logp = torch.log_softmax(theirs.logits[0], dim=-1)  # (L, V)
            expected = sum(float(logp[i, tok]) for i, tok in enumerate(mine.tokens))
            assert mine.logprob == pytest.approx(expected, abs=1e-5)
            # Width 1 through the adapter is the same decode; a wider beam's best is at least as probable.
            assert beam_search(decoder, 1, 15).hypotheses[0].tokens == mine.tokens
            best = beam_search(decoder, 4, 15, n_best=1).hypotheses[0]
            if best.finished and mine.finished:
                assert best.logprob >= mine.logprob - 1e-6
