"""The GRU trace engine: reset, update and candidate gates and the hidden state of any ``nn.GRU``.

torch's equations (Cho et al. 2014, in torch's form; ``weight_ih_l0`` stacks r, z, n)::

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)              reset gate
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)              update gate
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))   candidate (torch's n)
    h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}                      hidden state

The reset gate multiplies the candidate's recurrent part AFTER its bias b_hn is added (torch and
cuDNN; Keras calls this ``reset_after=True``); ``unit_terms`` keeps W_hn·h, b_hn and r_t apart so
that an equation printed from them adds up. The backward direction reads h_{t+1} where these say
t−1. Quantities: ``reset``, ``update``, ``candidate`` and ``hidden``, (T, H) each.

How it runs: torch's fused kernel (``torch.gru``, the op behind ``nn.GRU``) gives the exact h_t;
with every h_{t−1} known, the reset and update gates are one matmul and one sigmoid pass over
both blocks, and the candidate one more matmul, a multiply-add and a tanh pass. No cell state, so
no recurrence is left to solve.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import Tensor, nn

from app.nets.recurrent import (
    FusedEngine,
    LayerWeights,
    RecurrentDirection,
    RecurrentTrace,
    States,
    states_read,
    trace_layers,
)
from app.nets.recurrent import input_tables as _input_tables

GATES = ("reset", "update", "candidate")  # torch's order in weight_ih_l{k}: r, z, n


@dataclass(frozen=True, eq=False)
class GRUWeights(LayerWeights):
    """``LayerWeights`` plus the engine's forms (H = hidden_size)."""

    input_bias: Tensor  # (3H,) b_ir + b_hr, b_iz + b_hz, b_in: the biases outside the reset gate
    w_rz: Tensor  # (2H, H) W_hr and W_hz
    w_n: Tensor  # (H, H) W_hn
    b_n: Tensor  # (H,) b_hn, inside the reset gate


@dataclass(eq=False)
class GRUDirection(RecurrentDirection):
    """One layer, one direction of a GRU. Every per-step tensor is (T, H)."""

    reset: Tensor  # r_t
    update: Tensor  # z_t
    candidate: Tensor  # n_t

    gates: ClassVar[tuple[str, ...]] = GATES
    step_fields: ClassVar[tuple[str, ...]] = ("hidden", "x", "reset", "update", "candidate")

    @property
    def activations(self) -> tuple[str, ...]:
        return ("sigmoid", "sigmoid", "tanh")

    def recurrent_scale(self) -> Tensor:
        """(T, 3H): 1 for r and z; r_t for the candidate, whose recurrent part r ⊙ (W_hn·h + b_hn) is."""
        return torch.cat([torch.ones(self.reset.shape[0], 2 * self.reset.shape[1]), self.reset], dim=1)

    def quantities(self) -> dict[str, Tensor]:
        """The four per-step quantities by name."""
        return {
            "reset": self.reset,
            "update": self.update,
            "candidate": self.candidate,
            "hidden": self.hidden,
        }


GRUTrace = RecurrentTrace[GRUDirection]


class GRUEngine(FusedEngine[GRUWeights]):
    kind = "gru"
    name = "GRU"
    mode = "GRU"
    op = staticmethod(torch.gru)

    def prepare(self, weights: LayerWeights) -> GRUWeights:
        size = weights.w_hh.shape[0] // 3
        bias = weights.b_ih.clone()
        bias[: 2 * size] += weights.b_hh[: 2 * size]
        return GRUWeights(
            **{f.name: getattr(weights, f.name) for f in fields(LayerWeights)},
            input_bias=bias,
            w_rz=weights.w_hh[: 2 * size],
            w_n=weights.w_hh[2 * size :],
            b_n=weights.b_hh[2 * size :],
        )

    def projection(self, weights: GRUWeights, x: Tensor) -> Tensor:
        """(T, 3H) W_ir x + b_ir + b_hr, W_iz x + b_iz + b_hz, W_in x + b_in."""
        return torch.addmm(weights.input_bias, x, weights.w_ih.t())

    def rebuild(self, weights: GRUWeights, proj: Tensor, states: States) -> GRUDirection:
        """Gates of one direction from its exact hidden states (T, H)."""
        size = weights.w_n.shape[0]
        prev = states_read(states.hidden, states.h0, states.reverse)  # (T, H) h_{t−1} (h_{t+1} backward)
        rz = torch.addmm(proj[:, : 2 * size], prev, weights.w_rz.t()).sigmoid_()  # (T, 2H)
        reset, update = rz[:, :size], rz[:, size:]
        inside = torch.addmm(weights.b_n, prev, weights.w_n.t())  # (T, H) W_hn·h + b_hn
        candidate = torch.addcmul(proj[:, 2 * size :], reset, inside).tanh_()  # (T, H)
        return GRUDirection(
            **states.common(),
            weights=weights,
            reset=reset,
            update=update,
            candidate=candidate,
        )


ENGINE = GRUEngine()


def input_tables(gru: nn.Module, embedding: Tensor) -> list[Tensor]:
    """Layer 0's input projection of every embedding row, one (V, 3H) table per direction (for
    one-hot inputs pass ``torch.eye(V)``). Pass them with token ids to ``trace_gru``."""
    return _input_tables(ENGINE, gru, embedding)


@torch.inference_mode()
def trace_gru(
    gru: nn.Module,
    x: Tensor,
    *,
    ids: Tensor | None = None,
    tables: list[Tensor] | None = None,
    h0: Tensor | None = None,
) -> GRUTrace:
    """Trace one sequence through ``gru`` (an ``nn.GRU``, any layers, directions, bias and
    ``batch_first``).

    x: (T, input_size), or the module's own layout with a batch of one; ``ids`` and ``tables``
    (from ``input_tables``) make layer 0's input part a lookup. h0: (L·D, H) initial state, zeros
    unless given. See ``app.nets.recurrent.trace_layers``.
    """
    return trace_layers(ENGINE, gru, x, ids=ids, tables=tables, h0=h0)
