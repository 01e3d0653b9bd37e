"""Teacher forcing, free running and everything in between, on the Seq2Seq decoder-step API.

The decoder writes y_i from its previous state s_{i−1}, the context c_i and ONE input token: the
previous token y_{i−1}. Which token that is, is the whole difference between the modes:

* **teacher forcing** feeds the gold y_{i−1} of the label (training, and the way ``net(...)``
  computes its loss);
* **free running** feeds the model's own previous output ŷ_{i−1} = argmax p(· | …) (test time:
  there is no label);
* **a teacher-forcing ratio** mixes the two: with probability ``ratio`` a row reads gold, else its
  own argmax, with a coin per row and step (Bengio et al.'s 2015 scheduled sampling) or one coin per
  row for the whole sequence (the PyTorch seq2seq tutorial). ratio 1 is teacher forcing, ratio 0
  free running.

The classic example: input ``a b c e f g h``, label ``o p q r s t u``; if the model has written
``o p s`` so far, free running feeds ``s`` to step 4 while teacher forcing feeds the gold ``q``.
A model trained only under teacher forcing never saw its own mistakes as input (exposure bias).

Everything here is one loop, :func:`unroll`, over ``net.step``: no second implementation of the
decoder maths. ``next_input(i, logits)`` decides what step i+1 reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from app.nets.seq2seq import Memory, Seq2Seq


@dataclass
class Unrolled:
    """B rows decoded for L steps; ``fed[:, i]`` is the token step i read (bos at i = 0)."""

    fed: Tensor  # (B, L) y_{i−1} as fed
    logits: Tensor  # (B, L, V) scores of y_i
    alpha: Tensor | None  # (B, L, T) attention weights (None without attention)

    @property
    def steps(self) -> int:
        return int(self.fed.shape[1])


def unroll(
    net: Seq2Seq,
    memory: Memory,
    next_input: Callable[[int, Tensor], Tensor | None],
    max_steps: int,
    batch: int | None = None,
) -> Unrolled:
    """Run the decoder from bos; after step i, ``next_input(i, logits_i)`` gives the tokens (B,)
    step i+1 reads, or None to stop. Gradients flow through the logits (not through the choice of
    a token, which is discrete)."""
    state = net.initial_state(memory, batch)
    prev = torch.full((state.batch,), net.bos_id, dtype=torch.long)
    fed, logits, alpha = [], [], []
    for i in range(max_steps):
        out = net.step(prev, state, memory)
        fed.append(prev)
        logits.append(out.logits)
        if out.alpha is not None:
            alpha.append(out.alpha)
        state = out.state
        if i + 1 == max_steps:
            break
        chosen = next_input(i, out.logits)
        if chosen is None:
            break
        prev = chosen
    return Unrolled(
        fed=torch.stack(fed, dim=1),
        logits=torch.stack(logits, dim=1),
        alpha=torch.stack(alpha, dim=1) if alpha else None,
    )


def teacher_forced(net: Seq2Seq, memory: Memory, target_in: Tensor) -> Unrolled:
    """Feed the gold previous token: target_in (B, L) = bos + y_1..y_{L−1}."""
    return unroll(net, memory, lambda i, _: target_in[:, i + 1], target_in.shape[1])


def scheduled_sampling(
    net: Seq2Seq,
    memory: Memory,
    target_in: Tensor,
    ratio: float,
    generator: torch.Generator,
    per: Literal["token", "sequence"] = "token",
) -> tuple[Unrolled, Tensor]:
    """Feed the gold y_{i−1} with probability ``ratio``, else the model's own argmax ŷ_{i−1};
    returns the run and ``own`` (B, L), True where the model's own token was fed.

    ``per="token"``: one coin per row and step (Bengio et al.'s scheduled sampling).
    ``per="sequence"``: one coin per row, so each row is decoded wholly under teacher forcing or
    wholly free running (the ``teacher_forcing_ratio`` of the PyTorch seq2seq tutorial).
    ratio 1 never draws a coin and is exactly :func:`teacher_forced`."""
    B, L = target_in.shape
    own = torch.zeros(B, L, dtype=torch.bool)
    rows = torch.rand(B, generator=generator) >= ratio if per == "sequence" and ratio < 1.0 else None

    def next_input(i: int, logits: Tensor) -> Tensor:
        gold = target_in[:, i + 1]
        if ratio >= 1.0:
            return gold
        coin = rows if rows is not None else torch.rand(B, generator=generator) >= ratio  # True: own
        own[:, i + 1] = coin
        return torch.where(coin, logits.detach().argmax(dim=-1), gold)

    return unroll(net, memory, next_input, L), own


@dataclass
class FreeRun:
    """A greedy free run of one source, possibly with one token forced at one step."""

    run: Unrolled  # fed (1, n), logits (1, n, V)
    predicted: list[int]  # argmax at each step (what the model itself would write)
    written: list[int]  # what the lane wrote: predicted, except the injected step
    finished: bool  # wrote eos (else stopped at max_steps)


@torch.no_grad()
def free_running(
    net: Seq2Seq, memory: Memory, max_steps: int, inject: tuple[int, int] | None = None
) -> FreeRun:
    """Greedy decoding of one source that feeds back its own output until eos or ``max_steps``;
    ``inject=(step, token)`` writes ``token`` at that step instead of the argmax (so step+1 reads
    it), the way one early mistake would."""
    predicted: list[int] = []
    written: list[int] = []

    def next_input(i: int, logits: Tensor) -> Tensor | None:
        top = int(logits[0].argmax())
        token = inject[1] if inject is not None and inject[0] == i else top
        predicted.append(top)
        written.append(token)
        return None if token == net.eos_id else torch.tensor([token])

    run = unroll(net, memory, next_input, max_steps, batch=1)
    if len(predicted) < run.steps:  # the last step (max_steps reached) was not passed to next_input
        top = int(run.logits[0, -1].argmax())
        token = inject[1] if inject is not None and inject[0] == run.steps - 1 else top
        predicted.append(top)
        written.append(token)
    return FreeRun(run, predicted, written, finished=written[-1] == net.eos_id)


def gold_nll(logits: Tensor, gold: Tensor) -> Tensor:
    """Per-step loss −log p(y_i) of the gold tokens: logits (L, V), gold (L,) → (L,)."""
    return -torch.log_softmax(logits, dim=-1).gather(-1, gold[:, None]).squeeze(-1)
