"""Greedy and beam-search decoding over a decoder step function, recording the whole beam tree.

The seed material: greedy decoding takes the most probable symbol at every step; beam search keeps
the k best partial outputs — at each step it looks at k·V continuations and keeps the best k.
Here each live beam proposes its top 2k tokens, all of them are ranked by score, and the top k are
kept: kept candidates that produce EOS become finished hypotheses, the others become the next
step's beams. At most k candidates of one beam can make the top k, so the kept set is exactly the
best k of all k·V continuations; the other k per beam are recorded as the near misses.

Score (GNMT, Wu et al. 2016): score(Y) = log P(Y) / lp(Y) with lp(Y) = ((5 + |Y|) / 6)^α, where
|Y| counts the output tokens including EOS; α = 0 ranks by log-probability alone.

When to stop. The search ends when no kept candidate continues (all of the top k ended), at
``max_length`` (the live beams then become unfinished hypotheses), or as soon as ``n_best``
hypotheses have finished and no live beam can still reach a better score than the n-th of them.
That bound is exact: a continuation's log-probability never rises, so a live beam with cumulative
log-probability c < 0 can at best score c / max(lp) over the lengths it could still reach. The
n-best list is therefore the same as if the search had run on to ``max_length``, without decoding
pages of near-impossible continuations after everything sensible has ended.

The decoder is anything with this shape (see ``Decoder``): ``step(tokens (B,), state) →
(log-probs (B, V), state)`` for B rows at once, and ``select(state, rows) → state`` to reorder or
duplicate rows. The beam search makes ONE step call per time step for all live beams. Ranking the
B·2k candidates of a step happens on Python lists (the same float64 sums and divisions torch would
do, and a stable sort), because for so few numbers each torch call costs more than the work. The
tree is kept per step as what the search computed anyway (``StepCandidates``: each beam's top 2k,
the cumulative log-probs, the ranking); tensors and the API's dicts are built only when asked
(``BeamResult.tree()``). ``Seq2SeqDecoder`` makes any ``Seq2Seq`` net with its encoded source such
a decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import torch
from torch import Tensor

if TYPE_CHECKING:
    from app.nets.seq2seq import DecoderState, Memory, Seq2Seq

State = TypeVar("State")
StopReason = Literal["all ended", "n-best complete", "max_length"]


class Decoder(Protocol[State]):
    """A batched decoder step function (one source sentence; B rows of target prefixes)."""

    bos: int
    eos: int

    def initial(self) -> State:
        """The state before the first output token, for one row."""
        ...

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """tokens (B,) the previous output tokens → (log-probs (B, V), next state)."""
        ...

    def select(self, state: State, rows: Tensor) -> State:
        """The state of the given rows (B',), in that order (rows may repeat)."""
        ...


def length_penalty(length: Tensor | int, alpha: float) -> Tensor:
    """GNMT's lp(|Y|) = ((5 + |Y|) / 6)^α."""
    return ((5.0 + torch.as_tensor(length, dtype=torch.float64)) / 6.0) ** alpha


def _lp(length: int, alpha: float) -> float:
    return float(((5.0 + length) / 6.0) ** alpha)


@dataclass
class Hypothesis:
    tokens: list[int]  # output ids, without BOS; ends with EOS when finished
    logprob: float  # Σ log P(y_t | y_<t, x)
    score: float  # logprob / lp(|Y|)
    finished: bool  # ended with EOS (else: stopped at max_length)
    token_logprobs: list[float] = field(default_factory=list)
    node: int | None = None  # id of its last candidate in the tree


class StepCandidates:
    """All candidates proposed at one step: N = B·2k, ranked by score; the first ``n_kept`` are kept.

    The search stores what it computed anyway, as Python lists (each beam's top 2k tokens and
    log-probs, the cumulative log-probs, the scores and the ranking permutation); the ranked
    tensors below are built on first use. Candidate ids run from ``first_id`` in rank order.
    """

    def __init__(
        self,
        first_id: int,
        beam_nodes: list[int],
        top_tokens: list[list[int]],
        top_logprobs: list[list[float]],
        cum: list[float],
        score: list[float],
        order: list[int],
        n_kept: int,
        eos: int,
    ) -> None:
        self.first_id = first_id
        self.beam_nodes = beam_nodes  # [B] node id of each live beam, −1 for the root
        self.top_tokens = top_tokens  # [B][2k] each beam's best tokens
        self.top_logprobs = top_logprobs  # [B][2k] their log-probs
        self.cum = cum  # [N] cumulative log-probs, beam-major (unranked)
        self.scores = score  # [N] length-normalised scores, beam-major (unranked)
        self.order = order  # [N] rank → beam-major index
        self.n_kept = n_kept  # min(k, N)
        self.eos = eos

    def __len__(self) -> int:
        return len(self.order)

    @cached_property
    def ranked(self) -> tuple[list[int], list[int], list[float], list[float], list[float]]:
        """(parent, token, token log-prob, cumulative log-prob, score) in rank order, as lists."""
        per_beam = len(self.top_tokens[0])
        parent, token, token_lp = [], [], []
        for o in self.order:
            b, slot = divmod(o, per_beam)
            parent.append(self.beam_nodes[b])
            token.append(self.top_tokens[b][slot])
            token_lp.append(self.top_logprobs[b][slot])
        return (
            parent,
            token,
            token_lp,
            [self.cum[o] for o in self.order],
            [self.scores[o] for o in self.order],
        )

    @property
    def parent(self) -> Tensor:  # (N,) id of the candidate it extends, −1 at the first step
        return torch.tensor(self.ranked[0])

    @property
    def token(self) -> Tensor:  # (N,)
        return torch.tensor(self.ranked[1])

    @property
    def token_logprob(self) -> Tensor:  # (N,) float64
        return torch.tensor(self.ranked[2], dtype=torch.float64)

    @property
    def logprob(self) -> Tensor:  # (N,) cumulative, float64
        return torch.tensor(self.ranked[3], dtype=torch.float64)

    @property
    def score(self) -> Tensor:  # (N,) float64, descending
        return torch.tensor(self.ranked[4], dtype=torch.float64)

    @property
    def ids(self) -> Tensor:  # (N,) unique over the whole search
        return torch.arange(self.first_id, self.first_id + len(self))

    @property
    def kept(self) -> Tensor:  # (N,) bool: among the top k by score
        return torch.arange(len(self)) < self.n_kept

    @property
    def finished(self) -> Tensor:  # (N,) bool: kept and EOS
        return self.kept & (self.token == self.eos)

    @property
    def rank(self) -> Tensor:  # (N,) 1-based rank by score at this step
        return torch.arange(1, len(self) + 1)


@dataclass
class BeamResult:
    hypotheses: list[Hypothesis]  # the n-best, best first (by score)
    steps: list[StepCandidates]
    beam_width: int
    length_penalty: float
    stop_reason: StopReason = "all ended"

    def tree(self) -> list[dict[str, Any]]:
        """Steps as lists of candidate dicts (the API's shape; pruned_rank only for pruned ones)."""
        out = []
        for t, s in enumerate(self.steps):
            k = s.n_kept
            parents, tokens, token_lps, lps, scores = s.ranked
            out.append(
                {
                    "step": t,
                    "candidates": [
                        {
                            "id": s.first_id + j,
                            "parent": parents[j] if parents[j] >= 0 else None,
                            "token": tokens[j],
                            "token_logprob": token_lps[j],
                            "logprob": lps[j],
                            "score": scores[j],
                            "kept": j < k,
                            "finished": j < k and tokens[j] == s.eos,
                            "pruned_rank": None if j < k else j + 1,
                        }
                        for j in range(len(s))
                    ],
                }
            )
        return out

    def path(self, tokens: list[int]) -> list[int | None]:
        """The tree node of each prefix of ``tokens`` (None once the prefix is not in the tree).

        A prefix is in the tree while its parent was kept: this is how greedy's path is overlaid
        (it leaves the tree one step after the beam pruned it).
        """
        out: list[int | None] = []
        node: int | None = -1
        for t, tok in enumerate(tokens):
            if node is not None and t < len(self.steps):
                s = self.steps[t]
                parents, toks = s.ranked[0], s.ranked[1]
                node = next(
                    (s.first_id + j for j in range(len(s)) if parents[j] == node and toks[j] == tok), None
                )
            else:
                node = None
            out.append(node)
        return out


@torch.inference_mode()
def greedy(decoder: Decoder[Any], max_length: int) -> Hypothesis:
    """Take the most probable token at every step until EOS or ``max_length`` tokens."""
    state = decoder.initial()
    token = torch.tensor([decoder.bos])
    tokens: list[int] = []
    lps: list[float] = []
    for _ in range(max_length):
        logp, state = decoder.step(token, state)
        token = logp[0].argmax().reshape(1)
        best = int(token)
        tokens.append(best)
        lps.append(float(logp[0, best]))
        if best == decoder.eos:
            break
    total = float(sum(lps))
    return Hypothesis(tokens, total, total, bool(tokens) and tokens[-1] == decoder.eos, lps)


@torch.inference_mode()
def beam_search(
    decoder: Decoder[Any],
    beam_width: int,
    max_length: int,
    length_penalty_alpha: float = 0.0,
    n_best: int | None = None,
) -> BeamResult:
    """Batched beam search; returns the n-best hypotheses (default: k) and every step's candidates."""
    if beam_width < 1:
        raise ValueError("beam_width must be >= 1")
    k = beam_width
    n_best = k if n_best is None else max(1, n_best)
    alpha = length_penalty_alpha
    eos = decoder.eos
    state = decoder.initial()
    # The live beams, as Python lists (k is small): the bookkeeping of the kept few stays off torch.
    live_tokens = torch.tensor([decoder.bos])  # (B,) last token of each live beam
    live_lp: list[float] = [0.0]  # cumulative log-prob of each beam
    live_nodes: list[int] = [-1]  # candidate id of each beam's last node
    history: list[list[int]] = [[]]
    token_lps: list[list[float]] = [[]]
    ended: list[Hypothesis] = []
    steps: list[StepCandidates] = []
    next_id = 0
    reason: StopReason = "all ended"
    for t in range(max_length):
        logp, state = decoder.step(live_tokens, state)  # (B, V): one call for all beams
        per_beam = min(2 * k, logp.shape[1])
        top_lp, top_tok = logp.topk(per_beam, dim=1)  # (B, 2k)
        # Ranking N = B·2k numbers is cheaper in Python than in torch (no tensor per operation);
        # the sums and divisions are the same IEEE float64 ones, and the sort is stable.
        tokens_b, lps_b = top_tok.tolist(), top_lp.tolist()
        cum = [c + x for c, row in zip(live_lp, lps_b, strict=True) for x in row]  # beam-major
        lp_t = _lp(t + 1, alpha)
        score = [c / lp_t for c in cum] if alpha else cum
        order = sorted(range(len(cum)), key=score.__getitem__, reverse=True)
        kk = min(k, len(order))
        steps.append(StepCandidates(next_id, live_nodes, tokens_b, lps_b, cum, score, order, kk, eos))
        rows: list[int] = []  # the live beam each continuing candidate extends
        new_tokens: list[int] = []
        new_lp: list[float] = []
        new_nodes: list[int] = []
        new_history: list[list[int]] = []
        new_token_lps: list[list[float]] = []
        for j, o in enumerate(order[:kk]):
            b, slot = divmod(o, per_beam)
            tok, tlp, c = tokens_b[b][slot], lps_b[b][slot], cum[o]
            if tok == eos:
                ended.append(
                    Hypothesis(history[b] + [tok], c, score[o], True, token_lps[b] + [tlp], next_id + j)
                )
                continue
            rows.append(b)
            new_tokens.append(tok)
            new_lp.append(c)
            new_nodes.append(next_id + j)
            new_history.append(history[b] + [tok])
            new_token_lps.append(token_lps[b] + [tlp])
        next_id += len(order)
        if not rows:
            break
        live_lp, live_nodes, history, token_lps = new_lp, new_nodes, new_history, new_token_lps
        if t + 1 == max_length:
            reason = "max_length"
            break
        if len(ended) >= n_best:
            # The best any live beam could still score (log-probs only fall; lp is monotone).
            bound = max(live_lp) / max(_lp(t + 2, alpha), _lp(max_length, alpha))
            if bound <= sorted(h.score for h in ended)[-n_best]:
                reason = "n-best complete"
                break
        live_tokens = torch.tensor(new_tokens)
        state = decoder.select(state, torch.tensor(rows))

    hypotheses = ended
    if reason == "max_length":  # the live beams end unfinished
        lp_max = _lp(max_length, alpha)
        hypotheses += [
            Hypothesis(h, c, c / lp_max, False, tl, node)
            for h, c, tl, node in zip(history, live_lp, token_lps, live_nodes, strict=True)
        ]
    hypotheses.sort(key=lambda h: h.score, reverse=True)
    return BeamResult(hypotheses[:n_best], steps, k, alpha, reason)


class Seq2SeqDecoder:
    """A ``Seq2Seq`` net and one encoded source as a ``Decoder``: log_softmax of the step's logits.

    ``memory`` holds one source; its row broadcasts against the k beam rows (``Seq2Seq.step``).
    """

    def __init__(self, net: Seq2Seq, memory: Memory) -> None:
        if memory.batch != 1:
            raise ValueError(f"Seq2SeqDecoder decodes one source, not {memory.batch}")
        self.net, self.memory = net, memory
        self.bos, self.eos = net.bos_id, net.eos_id

    def initial(self) -> DecoderState:
        return self.net.initial_state(self.memory)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        out = self.net.step(tokens, state, self.memory)
        return torch.log_softmax(out.logits, dim=-1), out.state  # (B, V)

    def select(self, state: DecoderState, rows: Tensor) -> DecoderState:
        return state.select(rows)
