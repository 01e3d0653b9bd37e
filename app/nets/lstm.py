"""The LSTM trace engine: every gate, cell and hidden state of any ``nn.LSTM``, at every step.

The seed material's equations, in torch's gate order (``weight_ih_l0`` stacks i, f, g, o)::

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi)      input gate
    f_t = σ(W_if x_t + b_if + W_hf h_{t−1} + b_hf)      forget gate
    g̃_t = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg)   candidate
    o_t = σ(W_io x_t + b_io + W_ho h_{t−1} + b_ho)      output gate
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g̃_t                      cell state
    h_t = o_t ⊙ tanh(c_t)                               hidden state

(W·[h_{t−1}, x_t] + b in the seed's notation, with W = [W_h | W_i] and b = b_i + b_h.) The
backward direction reads h_{t+1} and c_{t+1} where these say t−1.

With ``proj_size = P > 0`` (Sak et al. 2014, "LSTM recurrent neural network architectures for
large scale acoustic modeling"; torch's ``weight_hr_l{k}`` (P, H))::

    m_t = o_t ⊙ tanh(c_t)           ``unprojected`` (H), Sak's cell output m_t
    h_t = W_hr m_t                  ``hidden`` (P): the output, and the state the next step reads

so W_h· is (4H, P), h0 and h_n are (L·D, P), c0 and c_n stay (L·D, H), and the layer above reads
the P-wide h. The gates, cell and ``unprojected`` are H wide; ``hidden`` is P wide.

How it is fast. A Python loop over time costs ~7.5× ``nn.LSTM``. Instead each layer runs once
through torch's own fused kernel (``torch.lstm``, the op behind ``nn.LSTM``), which gives the exact
h_t for all t. Every h_{t−1} is then known, so all pre-activations come from ONE batched matmul
``[h_{t−1}] @ W_hhᵀ`` added in place onto the input projection (a table lookup for embedding
inputs), and the gates are elementwise: σ over the i and f blocks, tanh over g̃, σ over o. The cell
state obeys a linear recurrence c_t = f_t c_{t−1} + i_t g̃_t, solved by ``cell_scan``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from app.nets.recurrent import (
    FusedEngine,
    LayerWeights,
    RecurrentDirection,
    RecurrentTrace,
    Shape,
    States,
    states_read,
    trace_layers,
)
from app.nets.recurrent import input_tables as _input_tables

GATES = ("input", "forget", "candidate", "output")  # torch's order in weight_ih_l{k}: i, f, g, o

# torch notes on every projected LSTM that oneDNN lacks projections and its own loop runs instead:
# the same states, nothing for a user to act on.
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")


@dataclass(frozen=True, eq=False)
class LSTMWeights(LayerWeights):
    """``LayerWeights`` plus the one bias the input projection adds."""

    bias_sum: Tensor | None  # (4H,) b_ih + b_hh, None without bias


@dataclass(eq=False)
class LSTMDirection(RecurrentDirection):
    """One layer, one direction of an LSTM. Gates and cell (T, H); ``hidden`` (T, H_out)."""

    input: Tensor  # i_t
    forget: Tensor  # f_t
    candidate: Tensor  # g̃_t
    output: Tensor  # o_t
    cell: Tensor  # c_t
    c0: Tensor  # (H,) the cell state before the first step this direction reads
    unprojected: Tensor | None = None  # (T, H) m_t = o_t ⊙ tanh(c_t) when proj_size > 0

    gates: ClassVar[tuple[str, ...]] = GATES
    step_fields: ClassVar[tuple[str, ...]] = (
        "hidden", "x", "input", "forget", "candidate", "output", "cell", "unprojected",
    )  # fmt: skip

    @property
    def activations(self) -> tuple[str, ...]:
        return ("sigmoid", "sigmoid", "tanh", "sigmoid")

    @property
    def previous_cell(self) -> Tensor:
        """(T, H) the cell state each step read: c_{t−1}, or c_{t+1} for the backward direction."""
        return states_read(self.cell, self.c0, self.reverse)

    def quantities(self) -> dict[str, Tensor]:
        """The per-step quantities by name: the six of the equations, plus ``unprojected`` with
        proj_size (then ``hidden`` is the projected h_t, P wide)."""
        named = {
            "input": self.input,
            "forget": self.forget,
            "candidate": self.candidate,
            "output": self.output,
            "cell": self.cell,
            "hidden": self.hidden,
        }
        if self.unprojected is not None:
            named["unprojected"] = self.unprojected
        return named


DirectionTrace = LSTMDirection  # its earlier name, which app/api/routes/birnn.py imports
LSTMTrace = RecurrentTrace[LSTMDirection]


def _chunk(steps: int) -> int:
    """Chunk length for ``cell_scan``: ~√(T/2) balances the in-chunk loop against the carry."""
    return max(2, math.isqrt(steps // 2))


def _strict_view(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` reshaped without a copy (assigning ``.shape`` raises instead of copying)."""
    view = a.view()
    view.shape = shape
    return view


def _drive(first: np.ndarray, second: np.ndarray | None) -> np.ndarray:
    return first if second is None else first * second


def _loop(forget: np.ndarray, drive: np.ndarray, c0: np.ndarray, out: np.ndarray) -> None:
    """out_t = forget_t ⊙ out_{t−1} + drive_t, one step at a time (out_{−1} = c0)."""
    np.multiply(forget[0], c0, out=out[0])
    out[0] += drive[0]
    for t in range(1, drive.shape[0]):
        np.multiply(forget[t], out[t - 1], out=out[t])
        out[t] += drive[t]


def cell_scan(
    forget: np.ndarray,
    drive: np.ndarray,
    c0: np.ndarray,
    chunk: int = 0,
    out: np.ndarray | None = None,
    candidate: np.ndarray | None = None,
) -> np.ndarray:
    """Solve c_t = forget_t ⊙ c_{t−1} + drive_t for all t; arrays are (T, H) float32.

    With ``candidate``, the drive is ``drive ⊙ candidate`` (i_t ⊙ g̃_t), multiplied as it is read.
    Time is cut into chunks of K steps. Inside the chunks the recurrence runs sequentially, all
    chunks at once, from a zero start, keeping a plain loop's arithmetic order; the state entering
    each chunk is the same recurrence over the chunks (its forget factor is the chunk's product of
    forget gates), solved recursively; a last pass adds each chunk's incoming state times the
    running product of its forget gates. That is ~3K + 3T/K small vectorised operations instead
    of 2T. Steps past the last whole chunk run as a loop. ``out`` (T, H) may be a view (the
    backward direction writes through a reversed one); returns it.
    """
    steps, width = forget.shape
    if out is None:
        out = np.empty((steps, width), dtype=np.float32)
    if steps == 0:
        return out
    k = chunk or _chunk(steps)
    n = steps // k  # whole chunks
    if n < 2:
        _loop(forget, _drive(drive, candidate), c0, out)
        return out
    m = n * k

    def chunked(a: np.ndarray) -> np.ndarray:  # (T, H) → (K, chunks, H): row j holds step j of every chunk
        return a[:m].reshape(n, k, width).transpose(1, 0, 2)

    f = np.empty((k, n, width), dtype=np.float32)
    f[...] = chunked(forget)
    local = np.empty_like(f)  # the recurrence inside each chunk from a zero start
    if candidate is None:
        local[...] = chunked(drive)
    else:
        np.multiply(chunked(drive), chunked(candidate), out=local)
    prod = np.empty_like(f)  # running product of forget gates inside each chunk
    prod[0] = f[0]
    tmp = np.empty((n, width), dtype=np.float32)
    for j in range(1, k):
        np.multiply(f[j], local[j - 1], out=tmp)
        local[j] += tmp  # local_j = f_j * local_{j-1} + drive_j: the loop's order
        np.multiply(f[j], prod[j - 1], out=prod[j])
    carry = np.empty((n, width), dtype=np.float32)  # the state entering each chunk
    carry[0] = c0
    cell_scan(prod[-1, :-1], local[-1, :-1], c0, out=carry[1:])
    prod *= carry  # (K, chunks, H) · (chunks, H)
    np.add(local, prod, out=_strict_view(out[:m], (n, k, width)).transpose(1, 0, 2))
    if m < steps:
        tail = _drive(drive[m:], None if candidate is None else candidate[m:])
        _loop(forget[m:], tail, out[m - 1], out[m:])
    return out


class LSTMEngine(FusedEngine[LSTMWeights]):
    kind = "lstm"
    name = "LSTM"
    mode = "LSTM"

    def check(self, module: nn.Module) -> Shape:
        shape = super().check(module)
        if shape.proj_size and not 0 < shape.proj_size < shape.hidden_size:
            top = shape.hidden_size - 1
            raise ValueError(f"proj_size: {shape.proj_size}, but it must be in 1..{top} (below hidden_size)")
        return shape

    def has_cell(self) -> bool:
        return True

    def prepare(self, weights: LayerWeights) -> LSTMWeights:
        return LSTMWeights(
            **{f.name: getattr(weights, f.name) for f in fields(LayerWeights)},
            bias_sum=weights.b_ih + weights.b_hh if weights.bias else None,
        )

    def kernel(
        self, x: Tensor, h0: Tensor, c0: Tensor | None, params: list[Tensor], shape: Shape
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        assert c0 is not None
        # torch infers the projection from h0 being narrower than c0.
        out, h_n, c_n = torch.lstm(
            x, (h0, c0), params, shape.bias, 1, 0.0, False, shape.directions == 2, False
        )
        return out, h_n, c_n

    def projection(self, weights: LSTMWeights, x: Tensor) -> Tensor:
        """(T, 4H) W_ih·x_t + b_ih + b_hh."""
        if weights.bias_sum is None:
            return x @ weights.w_ih.t()
        return torch.addmm(weights.bias_sum, x, weights.w_ih.t())

    def rebuild(self, weights: LSTMWeights, proj: Tensor, states: States) -> LSTMDirection:
        """Gates and cells of one direction from its exact hidden states (T, H_out)."""
        hidden, h0, c0, reverse = states.hidden, states.h0, states.c0, states.reverse
        assert c0 is not None
        w_hh = weights.w_hh  # the copy the kernel just read
        steps = hidden.shape[0]
        size = w_hh.shape[0] // 4
        # The gates are computed in the projection's own buffer (``rebuild`` owns it): the matmul
        # adds onto it in place, which spares addmm's copy of its bias into a new tensor.
        gates = proj  # (T, 4H) pre-activations first, then σ in place
        if reverse:  # backward reads t = T−1 … 0, so its "previous" state at t is h_{t+1}
            gates[:-1].addmm_(hidden[1:], w_hh.t())
            gates[-1].addmv_(w_hh, h0)
        else:
            gates[1:].addmm_(hidden[:-1], w_hh.t())
            gates[0].addmv_(w_hh, h0)
        i, f, g, o = gates.view(steps, 4, size).unbind(1)  # (T, H) views
        gates[:, : 2 * size].sigmoid_()  # i and f, side by side
        g.tanh_()
        o.sigmoid_()
        cell = torch.empty(steps, size)
        i_np, f_np, g_np, out = i.numpy(), f.numpy(), g.numpy(), cell.numpy()
        if reverse:
            cell_scan(f_np[::-1], i_np[::-1], c0.numpy(), out=out[::-1], candidate=g_np[::-1])
        else:
            cell_scan(f_np, i_np, c0.numpy(), out=out, candidate=g_np)
        unprojected = o * torch.tanh(cell) if weights.w_hr is not None else None
        return LSTMDirection(
            **states.common(),
            weights=weights,
            input=i,
            forget=f,
            candidate=g,
            output=o,
            cell=cell,
            c0=c0,
            unprojected=unprojected,
        )


ENGINE = LSTMEngine()


def check_lstm(lstm: nn.Module) -> None:
    """Refuse what the engine does not trace, with a ValueError naming the parameter."""
    ENGINE.check(lstm)


def input_tables(lstm: nn.Module, embedding: Tensor) -> list[Tensor]:
    """Layer 0's input projection W_ih·e_v + b for every embedding row e_v, one (V, 4H) table per
    direction (b = b_ih + b_hh). Pass them with token ids to ``trace_lstm``."""
    return _input_tables(ENGINE, lstm, embedding)


@torch.inference_mode()
def trace_lstm(
    lstm: nn.Module,
    x: Tensor,
    *,
    ids: Tensor | None = None,
    tables: list[Tensor] | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
) -> LSTMTrace:
    """Trace one sequence through ``lstm`` (an ``nn.LSTM``, any layers, directions, bias,
    ``batch_first`` and ``proj_size``).

    x: (T, input_size), or the module's own layout with a batch of one. For embedding inputs,
    also pass the token ``ids`` (T,) and the ``tables`` from ``input_tables``: layer 0's input
    projection then is a lookup, not a matmul. h0 (L·D, H_out), c0 (L·D, H): initial states,
    zeros unless given (nn.LSTM's convention). See ``app.nets.recurrent.trace_layers``.
    """
    return trace_layers(ENGINE, lstm, x, ids=ids, tables=tables, h0=h0, c0=c0)
