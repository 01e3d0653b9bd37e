"""Greedy and beam-search decoding over a decoder step function, recording the whole beam tree.

The seed material: greedy decoding takes the most probable symbol at every step; beam search keeps
the k best partial outputs — at each step it looks at k·V continuations and keeps the best k.
Here each live beam proposes its top 2k tokens (enough to refill the beam even if k of them end
the sentence), all k·2k candidates are ranked by score, and the top k are kept: kept candidates
that produce EOS become finished hypotheses, the others become the next step's beams.

Score (GNMT, Wu et al. 2016): score(Y) = log P(Y) / lp(Y) with lp(Y) = ((5 + |Y|) / 6)^α, where
|Y| counts the output tokens including EOS; α = 0 ranks by log-probability alone.

The decoder is anything with this shape (see ``Decoder``): ``step(tokens (B,), state) →
(log-probs (B, V), state)`` for B rows at once, and ``select(state, rows) → state`` to reorder or
duplicate rows. The beam search makes ONE step call per time step for all live beams. The tree is
kept as small tensors per step (no Python object per candidate) and turned into dicts only when
asked (``BeamResult.tree()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import torch
from torch import Tensor

State = TypeVar("State")


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


@dataclass
class Hypothesis:
    tokens: list[int]  # output ids, without BOS; ends with EOS when finished
    logprob: float  # Σ log P(y_t | y_<t, x)
    score: float  # logprob / lp(|Y|)
    finished: bool  # ended with EOS (else: stopped at max_length)
    token_logprobs: list[float] = field(default_factory=list)
    node: int | None = None  # id of its last candidate in the tree


@dataclass
class StepCandidates:
    """All candidates proposed at one step, as parallel tensors of length N = B·2k (ranked order)."""

    ids: Tensor  # (N,) candidate ids, unique over the whole search
    parent: Tensor  # (N,) id of the candidate it extends, −1 at the first step
    token: Tensor  # (N,)
    token_logprob: Tensor  # (N,) float64
    logprob: Tensor  # (N,) cumulative, float64
    score: Tensor  # (N,) length-normalised
    kept: Tensor  # (N,) bool
    finished: Tensor  # (N,) bool: kept and EOS
    rank: Tensor  # (N,) 1-based rank by score at this step


@dataclass
class BeamResult:
    hypotheses: list[Hypothesis]  # best first (by score)
    steps: list[StepCandidates]
    beam_width: int
    length_penalty: float

    def tree(self) -> list[dict[str, Any]]:
        """Steps as lists of candidate dicts (the API's shape; pruned_rank only for pruned ones)."""
        out = []
        for t, s in enumerate(self.steps):
            rows = zip(
                s.ids.tolist(),
                s.parent.tolist(),
                s.token.tolist(),
                s.token_logprob.tolist(),
                s.logprob.tolist(),
                s.score.tolist(),
                s.kept.tolist(),
                s.finished.tolist(),
                s.rank.tolist(),
                strict=True,
            )
            out.append(
                {
                    "step": t,
                    "candidates": [
                        {
                            "id": i,
                            "parent": p if p >= 0 else None,
                            "token": tok,
                            "token_logprob": tlp,
                            "logprob": lp,
                            "score": sc,
                            "kept": k,
                            "finished": f,
                            "pruned_rank": None if k else r,
                        }
                        for i, p, tok, tlp, lp, sc, k, f, r in rows
                    ],
                }
            )
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
        best = int(logp[0].argmax())
        tokens.append(best)
        lps.append(float(logp[0, best]))
        if best == decoder.eos:
            break
        token = torch.tensor([best])
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
    """Batched beam search; returns the n-best hypotheses and every step's ranked candidates."""
    if beam_width < 1:
        raise ValueError("beam_width must be >= 1")
    k = beam_width
    state = decoder.initial()
    live_tokens = torch.tensor([decoder.bos])  # (B,) last token of each live beam
    live_lp = torch.zeros(1, dtype=torch.float64)  # (B,) cumulative log-prob
    live_nodes = torch.tensor([-1])  # (B,) candidate id of each beam's last node
    history: list[list[int]] = [[]]
    token_lps: list[list[float]] = [[]]
    finished: list[Hypothesis] = []
    steps: list[StepCandidates] = []
    next_id = 0
    for t in range(max_length):
        logp, state = decoder.step(live_tokens, state)  # (B, V): one call for all beams
        per_beam = min(2 * k, logp.shape[1])
        top_lp, top_tok = logp.topk(per_beam, dim=1)  # (B, 2k)
        n_live = live_tokens.shape[0]
        beam_of = torch.arange(n_live).repeat_interleave(per_beam)  # (N,)
        token = top_tok.reshape(-1)
        token_lp = top_lp.reshape(-1).double()
        cum = live_lp[beam_of] + token_lp
        score = cum / length_penalty(t + 1, length_penalty_alpha)
        order = torch.argsort(score, descending=True, stable=True)  # ranked candidates
        beam_of, token, token_lp, cum, score = (
            beam_of[order],
            token[order],
            token_lp[order],
            cum[order],
            score[order],
        )
        n = token.shape[0]
        kept = torch.zeros(n, dtype=torch.bool)
        kept[:k] = True
        is_eos = token == decoder.eos
        done = kept & is_eos
        ids = torch.arange(next_id, next_id + n)
        next_id += n
        steps.append(
            StepCandidates(
                ids=ids,
                parent=live_nodes[beam_of],
                token=token,
                token_logprob=token_lp,
                logprob=cum,
                score=score,
                kept=kept,
                finished=done,
                rank=torch.arange(1, n + 1),
            )
        )
        for j in torch.nonzero(done).flatten().tolist():
            b = int(beam_of[j])
            finished.append(
                Hypothesis(
                    history[b] + [int(token[j])],
                    float(cum[j]),
                    float(score[j]),
                    True,
                    token_lps[b] + [float(token_lp[j])],
                    int(ids[j]),
                )
            )
        cont = torch.nonzero(kept & ~is_eos).flatten()  # the next step's beams
        if cont.numel() == 0:
            break
        rows = beam_of[cont]
        history = [history[int(b)] + [int(token[j])] for b, j in zip(rows, cont, strict=True)]
        token_lps = [token_lps[int(b)] + [float(token_lp[j])] for b, j in zip(rows, cont, strict=True)]
        state = decoder.select(state, rows)
        live_tokens, live_lp, live_nodes = token[cont], cum[cont], ids[cont]
    else:  # max_length reached: the live beams end unfinished
        lp = length_penalty(max_length, length_penalty_alpha)
        for b in range(live_tokens.shape[0]):
            finished.append(
                Hypothesis(
                    history[b],
                    float(live_lp[b]),
                    float(live_lp[b] / lp),
                    False,
                    token_lps[b],
                    int(live_nodes[b]),
                )
            )
    finished.sort(key=lambda h: h.score, reverse=True)
    return BeamResult(finished[: n_best or len(finished)], steps, k, length_penalty_alpha)
