"""The vanilla RNN trace engine: both pre-activation parts and the hidden state of any ``nn.RNN``.

The seed material's recurrent cell, in torch's parametrisation (two bias vectors)::

    h_t = f(W·[h_{t−1}, x_t] + b)
        = f(W_ih·x_t + b_ih  +  W_hh·h_{t−1} + b_hh)        f = tanh (or relu)
          └── from_input ──┘   └──── recurrent ────┘

W = [W_hh | W_ih] acting on the concatenation [h_{t−1}, x_t] is the same product written as one
matrix; b = b_ih + b_hh. A plain layer of neurons h = f(W_ih·x + b) is the special case h_{t−1} = 0.
The backward direction reads h_{t+1} where this says t−1. Quantities: ``from_input`` and
``recurrent`` (each with its bias, as above) and ``hidden``, (T, H) each; the trace's kind is
``rnn_tanh`` or ``rnn_relu``.

How it runs. Each layer goes once through torch's own fused kernel (``torch.rnn_tanh`` /
``torch.rnn_relu``, the ops behind ``nn.RNN``), so h_t is exactly what ``nn.RNN`` returns. Every
h_{t−1} is then known, and both pre-activation parts come from one batched matmul each
(``[h_{t−1}] @ W_hhᵀ`` and ``[x_t] @ W_ihᵀ``, or a table lookup for one-hot or embedding inputs),
as the other engines do. A Python loop over steps would be simpler to read, but it recomputes h_t
with a different summation order than torch and costs several times the fused kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
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

NONLINEARITIES = ("tanh", "relu")


@dataclass(eq=False)
class RNNDirection(RecurrentDirection):
    """One layer, one direction of an RNN. Every per-step tensor is (T, H)."""

    from_input: Tensor  # W_ih·x_t + b_ih
    recurrent: Tensor  # W_hh·h_{t−1} + b_hh (h_{t+1} backward)
    nonlinearity: str  # f: "tanh" or "relu"

    gates: ClassVar[tuple[str, ...]] = ("hidden",)  # one block: h_t = f(pre) itself
    step_fields: ClassVar[tuple[str, ...]] = ("hidden", "x", "from_input", "recurrent")

    @property
    def activations(self) -> tuple[str, ...]:
        return (self.nonlinearity,)

    @property
    def pre(self) -> Tensor:
        """(T, H) the full pre-activation W·[h_{t−1}, x_t] + b; h_t = f(pre)."""
        return self.from_input + self.recurrent

    def quantities(self) -> dict[str, Tensor]:
        """The per-step quantities by name: both pre-activation parts and h."""
        return {"from_input": self.from_input, "recurrent": self.recurrent, "hidden": self.hidden}


RNNTrace = RecurrentTrace[RNNDirection]


class RNNEngine(FusedEngine[LayerWeights]):
    name = "RNN"

    def __init__(self, nonlinearity: str) -> None:
        self.nonlinearity = nonlinearity
        self.kind = f"rnn_{nonlinearity}"
        self.mode = f"RNN_{nonlinearity.upper()}"
        self.op = {"tanh": torch.rnn_tanh, "relu": torch.rnn_relu}[nonlinearity]

    def prepare(self, weights: LayerWeights) -> LayerWeights:
        return weights

    def projection(self, weights: LayerWeights, x: Tensor) -> Tensor:
        """(T, H) W_ih·x_t + b_ih."""
        return torch.addmm(weights.b_ih, x, weights.w_ih.t())

    def rebuild(self, weights: LayerWeights, proj: Tensor, states: States) -> RNNDirection:
        prev = states_read(states.hidden, states.h0, states.reverse)  # (T, H) h_{t−1} (h_{t+1} backward)
        return RNNDirection(
            **states.common(),
            weights=weights,
            from_input=proj,
            recurrent=torch.addmm(weights.b_hh, prev, weights.w_hh.t()),
            nonlinearity=self.nonlinearity,
        )


ENGINES = {f: RNNEngine(f) for f in NONLINEARITIES}


def _engine(rnn: nn.Module) -> RNNEngine:
    nonlinearity = getattr(rnn, "nonlinearity", None)
    if nonlinearity not in ENGINES:
        raise ValueError(f"nonlinearity: {nonlinearity!r}; an RNN's is 'tanh' or 'relu'")
    return ENGINES[nonlinearity]


def input_tables(rnn: nn.Module, embedding: Tensor) -> list[Tensor]:
    """Layer 0's W_ih·e_v + b_ih for every embedding row e_v: one (V, H) table per direction.

    For one-hot inputs pass ``torch.eye(V)``; the table is then W_ihᵀ + b_ih, and looking up row v
    equals the product W_ih·x_t exactly (the other terms are products with 0).
    """
    return _input_tables(_engine(rnn), rnn, embedding)


@torch.inference_mode()
def trace_rnn(
    rnn: nn.Module,
    x: Tensor,
    *,
    ids: Tensor | None = None,
    tables: list[Tensor] | None = None,
    h0: Tensor | None = None,
) -> RNNTrace:
    """Trace one sequence through ``rnn`` (an ``nn.RNN``, tanh or relu, any layers, directions,
    bias and ``batch_first``).

    x: (T, input_size), or the module's own layout with a batch of one. For one-hot or embedding
    inputs, also pass the token ``ids`` (T,) and the ``tables`` from ``input_tables``: layer 0's
    input part is then a lookup, not a matmul. h0: (L·D, H) initial state, zeros unless given
    (nn.RNN's convention). See ``app.nets.recurrent.trace_layers``.
    """
    return trace_layers(_engine(rnn), rnn, x, ids=ids, tables=tables, h0=h0)
