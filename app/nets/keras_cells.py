"""Keras recurrent layers torch has no module for, and their step-loop trace engines.

A Keras ``LSTM``, ``GRU`` or ``SimpleRNN`` whose equations are exactly a torch module's is read
into that module (``app.formats.keras``) and traced by the fused engines; these are the rest,
on the extension point of ``app.nets.recurrent`` (``Engine`` with a step loop):

* a ``GRU`` with ``reset_after=False``, where the reset gate multiplies the state BEFORE the
  candidate's recurrent matmul (``ResetBeforeGRUEngine``: Cho et al. 2014's original GRU);
* an ``LSTM`` or a ``GRU`` whose ``activation`` is not tanh or whose ``recurrent_activation`` is
  not σ (``hard_sigmoid`` in Keras 1/2 files; ``KerasLSTMEngine``, ``KerasGRUEngine``);
* a ``SimpleRNN`` whose ``activation`` is neither tanh nor relu (``KerasRNNEngine``).

``KerasRecurrent`` is the torch module that holds such a layer: torch's parameter names and
layout (``weight_ih_l{k}`` (G·H, I), ``weight_hh_l{k}`` (G·H, H), ``bias_ih_l{k}`` and
``bias_hh_l{k}`` (G·H,), ``_reverse`` for the backward direction), gate blocks in TORCH's order
(LSTM i, f, g, o; GRU r, z, n), and Keras's ``activation`` and ``recurrent_activation`` by name
(``app.nets.activations``). Keras's single bias of an LSTM, a SimpleRNN or a reset-before GRU is
``bias_ih``, and ``bias_hh`` is zero; a reset-after GRU's (2, 3H) bias is (``bias_ih``,
``bias_hh``). The mapping from Keras's ``kernel``/``recurrent_kernel``/``bias`` happens in the
reader and is pinned by tests/formats/test_keras.py.

Each engine runs one Python step per time step and direction and records every gate as it goes
(a fused kernel would need torch's equations). The traces have the shared shape
(``RecurrentTrace``, directions in sequence order, the backward one reading h_{t+1}), with the
same ``pre`` and ``unit_terms`` whose parts add up; ``activations`` names each gate's function.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from app.nets.activations import ACTIVATIONS
from app.nets.gru import GRUDirection
from app.nets.lstm import LSTMDirection
from app.nets.recurrent import (
    Engine,
    LayerResult,
    LayerWeights,
    RecurrentDirection,
    Shape,
    read_weights,
    suffix,
    trace_layers,
)
from app.nets.rnn import RNNDirection

CELLS = {"lstm": 4, "gru": 3, "simple_rnn": 1}  # Keras cell → gate blocks G


def mode_of(cell: str, activation: str, reset_after: bool) -> str:
    """The ``mode`` of a ``KerasRecurrent`` (which engine traces it), like torch's RNNBase.mode."""
    if cell == "lstm":
        return "KERAS_LSTM"
    if cell == "gru":
        return "KERAS_GRU" if reset_after else "KERAS_GRU_RESET_BEFORE"
    return f"KERAS_RNN_{activation.upper()}"


class KerasRecurrent(nn.Module):
    """One or more stacked Keras recurrent layers of one kind, in torch's parameter layout.

    cell: "lstm", "gru" or "simple_rnn"; ``activation`` (the candidate's and, for an LSTM, the
    cell output's; a SimpleRNN's only one) and ``recurrent_activation`` (the gates') are names in
    ``app.nets.activations.ACTIVATIONS``; ``reset_after`` (GRU only) picks the equation. Traces
    run in float32 on the CPU, one sequence at a time.

    Raises ValueError for an unknown cell or activation, or sizes below 1.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        bias: bool = True,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        reset_after: bool = True,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell: {cell!r}; a Keras recurrent cell is one of {', '.join(CELLS)}")
        for name, value in (("activation", activation), ("recurrent_activation", recurrent_activation)):
            if value not in ACTIVATIONS:
                raise ValueError(f"{name}: {value!r} is not one of {', '.join(ACTIVATIONS)}")
        if min(input_size, hidden_size, num_layers) < 1:
            raise ValueError("input_size, hidden_size, num_layers: each must be at least 1")
        self.cell = cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.bias = bias
        self.proj_size = 0
        self.batch_first = False
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.reset_after = reset_after if cell == "gru" else True
        self.mode = mode_of(cell, activation, self.reset_after)
        rows = CELLS[cell] * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else (2 if bidirectional else 1) * hidden_size
            for direction in range(2 if bidirectional else 1):
                sfx = suffix(layer, direction)
                self.register_parameter("weight_ih" + sfx, nn.Parameter(torch.zeros(rows, width)))
                self.register_parameter("weight_hh" + sfx, nn.Parameter(torch.zeros(rows, hidden_size)))
                if bias:
                    self.register_parameter("bias_ih" + sfx, nn.Parameter(torch.zeros(rows)))
                    self.register_parameter("bias_hh" + sfx, nn.Parameter(torch.zeros(rows)))

    def extra_repr(self) -> str:
        extra = f", reset_after={self.reset_after}" if self.cell == "gru" else ""
        return (
            f"{self.cell}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}, bias={self.bias}, activation={self.activation!r}, "
            f"recurrent_activation={self.recurrent_activation!r}{extra}"
        )

    def forward(self, x: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """One sequence, (T, input_size) or (T, 1, input_size) → (output (T, 1, D·H), h_n (L·D, 1,
        H)), and (h_n, c_n) for an LSTM, as torch's modules return them; ``hx`` as theirs take it."""
        h0, c0 = hx if self.cell == "lstm" and hx is not None else (hx, None)
        tr = trace_layers(ENGINES[self.mode], self, x, h0=h0, c0=c0)
        h_n = tr.h_n[:, None]
        state = (h_n, tr.c_n[:, None]) if tr.c_n is not None else h_n
        return tr.output[:, None], state


@dataclass(eq=False)
class KerasLSTMDirection(LSTMDirection):
    """An LSTM direction with Keras's activations: i, f, o = recurrent_activation(·),
    g̃ = activation(·), c_t = f ⊙ c_{t−1} + i ⊙ g̃, h_t = o ⊙ activation(c_t)."""

    recurrent_activation: str = "sigmoid"
    activation: str = "tanh"  # the candidate's, and the one applied to c_t for h_t

    @property
    def activations(self) -> tuple[str, ...]:
        gate, act = self.recurrent_activation, self.activation
        return (gate, gate, act, gate)

    @property
    def cell_activation(self) -> str:
        """The function in h_t = o_t ⊙ φ(c_t) (tanh in torch; Keras's ``activation``)."""
        return self.activation


@dataclass(eq=False)
class KerasGRUDirection(GRUDirection):
    """A reset-after GRU direction (torch's equations) with Keras's activations."""

    recurrent_activation: str = "sigmoid"
    activation: str = "tanh"

    @property
    def activations(self) -> tuple[str, ...]:
        return (self.recurrent_activation, self.recurrent_activation, self.activation)


@dataclass(eq=False)
class ResetBeforeGRUDirection(KerasGRUDirection):
    """A reset-before GRU direction: the candidate's recurrent weights multiply r_t ⊙ h_{t−1}
    (``recurrent_input``) and nothing scales them afterwards (``recurrent_scale`` is None)."""

    def recurrent_scale(self) -> None:  # type: ignore[override]
        return None

    def recurrent_input(self, block: int) -> Tensor | None:
        """r_t ⊙ h_{t−1} (h_{t+1} backward) for the candidate block (2), the state for r and z."""
        return self.reset * self.previous_hidden if block == 2 else None

    def quantities(self) -> dict[str, Tensor]:
        """reset, update, candidate, hidden, and ``reset_hidden`` r_t ⊙ h_{t−1}, (T, H) each."""
        return {**super().quantities(), "reset_hidden": self.reset * self.previous_hidden}


class DirectionInput(NamedTuple):
    """What one direction of a step loop reads."""

    module: KerasRecurrent
    weights: LayerWeights
    proj: Tensor  # (T, G·H) W_ih·x_t + b_ih (or the caller's table lookup)
    x: Tensor  # (T, I)
    h0: Tensor  # (H,)
    c0: Tensor | None  # (H,) LSTM only
    direction: int  # 0 forward, 1 backward

    def common(self, hidden: Tensor) -> dict[str, Any]:
        """The ``RecurrentDirection`` fields every kind shares, given the states written (T, H)."""
        return {
            "hidden": hidden,
            "h0": self.h0,
            "reverse": bool(self.direction),
            "x": self.x,
            "weights": self.weights,
        }

    def order(self) -> range:
        """The time steps in the order this direction reads them."""
        steps = self.x.shape[0]
        return range(steps - 1, -1, -1) if self.direction else range(steps)


class StepEngine(Engine):
    """An engine with one Python step per time step: the input part of every pre-activation in
    one batched matmul (or the caller's table lookup), then the recurrence step by step."""

    def check(self, module: nn.Module) -> Shape:
        shape = super().check(module)
        if not isinstance(module, KerasRecurrent):
            raise ValueError(f"module: a {type(module).__name__}; this engine traces a KerasRecurrent")
        return shape

    def input_table(self, module: nn.Module, shape: Shape, direction: int, embedding: Tensor) -> Tensor:
        w = read_weights(module, shape, 0, direction)
        return torch.addmm(w.b_ih, embedding.detach().float(), w.w_ih.t())

    def trace_layer(
        self,
        module: nn.Module,
        shape: Shape,
        layer: int,
        x: Tensor,
        h0: Tensor,
        c0: Tensor | None,
        projections: list[Tensor] | None,
    ) -> LayerResult:
        assert isinstance(module, KerasRecurrent)  # check() made sure
        directions, outputs, hs, cs = [], [], [], []
        for d in range(shape.directions):
            w = read_weights(module, shape, layer, d)
            proj = projections[d] if projections is not None else torch.addmm(w.b_ih, x, w.w_ih.t())
            if proj.shape[1] != w.w_ih.shape[0]:
                raise ValueError(
                    f"tables: rows of {proj.shape[1]} numbers, but this {self.name} engine's are "
                    f"{w.w_ih.shape[0]} wide (make them with its input_tables)"
                )
            job = DirectionInput(module, w, proj, x, h0[d], None if c0 is None else c0[d], d)
            direction, h_last, c_last = self.run(job)
            directions.append(direction)
            outputs.append(direction.hidden)
            hs.append(h_last)
            if c_last is not None:
                cs.append(c_last)
        return LayerResult(
            directions, torch.cat(outputs, dim=1), torch.stack(hs), torch.stack(cs) if cs else None
        )

    @abstractmethod
    def run(self, job: DirectionInput) -> tuple[RecurrentDirection, Tensor, Tensor | None]:
        """One direction: (its trace in sequence order, the last state it wrote h, and c)."""


class KerasLSTMEngine(StepEngine):
    """A Keras ``LSTM`` with any activations (σ_r = ``recurrent_activation``, φ = ``activation``;
    Keras's kernel blocks i, f, c, o are torch's i, f, g, o)::

        i_t = σ_r(W_ii x_t + b_i + W_hi h_{t−1})        input gate
        f_t = σ_r(W_if x_t + b_f + W_hf h_{t−1})        forget gate
        g̃_t = φ(W_ig x_t + b_g + W_hg h_{t−1})          candidate (Keras's c block)
        o_t = σ_r(W_io x_t + b_o + W_ho h_{t−1})        output gate
        c_t = f_t ⊙ c_{t−1} + i_t ⊙ g̃_t                 cell state
        h_t = o_t ⊙ φ(c_t)                              hidden state

    (One bias b, ``bias_ih``; ``bias_hh`` is zero.) Keras (``keras/src/layers/rnn/lstm.py``,
    ``LSTMCell.call``) computes the same with x·kernel + h·recurrent_kernel + bias.
    """

    kind, name, mode = "lstm", "Keras LSTM", "KERAS_LSTM"

    def has_cell(self) -> bool:
        return True

    def run(self, job: DirectionInput) -> tuple[RecurrentDirection, Tensor, Tensor | None]:
        module, w, proj, x, h0, c0 = job.module, job.weights, job.proj, job.x, job.h0, job.c0
        gate, act = ACTIVATIONS[module.recurrent_activation], ACTIVATIONS[module.activation]
        steps, size = x.shape[0], module.hidden_size
        gates = torch.empty(steps, 4 * size)  # (T, 4H) i, f, g̃, o
        cells, hidden = torch.empty(steps, size), torch.empty(steps, size)
        pre_in = proj + w.b_hh  # (T, 4H) W_ih·x_t + b_ih + b_hh
        h = h0
        c = torch.zeros(size) if c0 is None else c0
        cand = slice(2 * size, 3 * size)
        for t in job.order():
            pre = torch.addmv(pre_in[t], w.w_hh, h)  # (4H,)
            row = gate(pre)  # i, f, o (and the candidate's block, replaced next)
            row[cand] = act(pre[cand])
            c = torch.addcmul(row[size : 2 * size] * c, row[:size], row[cand])  # f ⊙ c + i ⊙ g̃
            h = row[3 * size :] * act(c)
            gates[t], cells[t], hidden[t] = row, c, h
        i, f, g, o = gates.split(size, dim=1)
        trace = KerasLSTMDirection(
            **job.common(hidden),
            input=i,
            forget=f,
            candidate=g,
            output=o,
            cell=cells,
            c0=torch.zeros(size) if c0 is None else c0,
            recurrent_activation=module.recurrent_activation,
            activation=module.activation,
        )
        return trace, h, c


class KerasGRUEngine(StepEngine):
    """A Keras ``GRU`` with ``reset_after=True`` (torch's equations) and any activations
    (σ_r = ``recurrent_activation``, φ = ``activation``; Keras's blocks z, r, h are torch's z, r, n,
    stored here in torch's order r, z, n)::

        r_t = σ_r(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)            reset gate
        z_t = σ_r(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)            update gate
        n_t = φ(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))      candidate
        h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}                      hidden state

    (b_i· is Keras's bias[0], b_h· its bias[1].) With σ and tanh this is ``nn.GRU``, which the
    reader builds instead.
    """

    kind, name, mode = "gru", "Keras GRU", "KERAS_GRU"
    direction_class: ClassVar[type[KerasGRUDirection]] = KerasGRUDirection

    def candidate_recurrent(self, w_hn: Tensor, b_hn: Tensor, h: Tensor, r: Tensor) -> Tensor:
        """The candidate's recurrent part: r ⊙ (W_hn h + b_hn) (reset after)."""
        return r * (w_hn @ h + b_hn)

    def run(self, job: DirectionInput) -> tuple[RecurrentDirection, Tensor, Tensor | None]:
        module, w, proj, x, h0 = job.module, job.weights, job.proj, job.x, job.h0
        gate, act = ACTIVATIONS[module.recurrent_activation], ACTIVATIONS[module.activation]
        steps, size = x.shape[0], module.hidden_size
        reset, update = torch.empty(steps, size), torch.empty(steps, size)
        candidate, hidden = torch.empty(steps, size), torch.empty(steps, size)
        w_rz, w_hn, b_hn = w.w_hh[: 2 * size], w.w_hh[2 * size :], w.b_hh[2 * size :]
        pre_rz = proj[:, : 2 * size] + w.b_hh[: 2 * size]  # (T, 2H) W_i·x_t + b_i + b_h for r and z
        h = h0
        for t in job.order():
            rz = gate(torch.addmv(pre_rz[t], w_rz, h))  # (2H,)
            r, z = rz[:size], rz[size:]
            n = act(proj[t, 2 * size :] + self.candidate_recurrent(w_hn, b_hn, h, r))
            h = torch.lerp(n, h, z)  # (1 − z) ⊙ n + z ⊙ h
            reset[t], update[t], candidate[t], hidden[t] = r, z, n, h
        trace = self.direction_class(
            **job.common(hidden),
            reset=reset,
            update=update,
            candidate=candidate,
            recurrent_activation=module.recurrent_activation,
            activation=module.activation,
        )
        return trace, h, None


class ResetBeforeGRUEngine(KerasGRUEngine):
    """A Keras ``GRU`` with ``reset_after=False``: the reset gate multiplies the state BEFORE the
    candidate's recurrent matmul (Cho et al. 2014, eq. 8; Keras's ``GRUCell.call``, the
    ``reset_after=False`` branch; a different equation from torch's)::

        r_t = σ_r(W_ir x_t + b_r + W_hr h_{t−1})                    reset gate
        z_t = σ_r(W_iz x_t + b_z + W_hz h_{t−1})                    update gate
        n_t = φ(W_in x_t + b_n + W_hn (r_t ⊙ h_{t−1}))              candidate (Keras's h̃)
        h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}                      hidden state

    One bias b (3H,), ``bias_ih``; ``bias_hh`` is zero. In a trace, ``unit_terms`` gives the
    candidate's ``recurrent`` part as W_hn·(r_t ⊙ h_{t−1}) with ``recurrent_scale`` 1.
    """

    kind, name, mode = "gru_reset_before", "Keras GRU (reset_after=False)", "KERAS_GRU_RESET_BEFORE"
    direction_class = ResetBeforeGRUDirection

    def candidate_recurrent(self, w_hn: Tensor, b_hn: Tensor, h: Tensor, r: Tensor) -> Tensor:
        """The candidate's recurrent part: W_hn (r ⊙ h) + b_hn (reset before; b_hn is zero)."""
        return w_hn @ (r * h) + b_hn


class KerasRNNEngine(StepEngine):
    """A Keras ``SimpleRNN`` with an activation φ torch's ``nn.RNN`` lacks (tanh and relu go to
    ``nn.RNN``)::

        h_t = φ(W_ih x_t + b + W_hh h_{t−1})

    (One bias b, ``bias_ih``; ``bias_hh`` is zero.) The trace's kind is ``rnn_<φ>``.
    """

    name = "Keras SimpleRNN"

    def __init__(self, activation: str) -> None:
        self.activation = activation
        self.kind = f"rnn_{activation}"
        self.mode = mode_of("simple_rnn", activation, True)

    def run(self, job: DirectionInput) -> tuple[RecurrentDirection, Tensor, Tensor | None]:
        module, w, proj, x, h0 = job.module, job.weights, job.proj, job.x, job.h0
        act = ACTIVATIONS[module.activation]
        steps, size = x.shape[0], module.hidden_size
        recurrent, hidden = torch.empty(steps, size), torch.empty(steps, size)
        h = h0
        for t in job.order():
            recurrent[t] = torch.addmv(w.b_hh, w.w_hh, h)
            h = hidden[t] = act(proj[t] + recurrent[t])
        trace = RNNDirection(
            **job.common(hidden),
            from_input=proj,
            recurrent=recurrent,
            nonlinearity=module.activation,
        )
        return trace, h, None


ENGINES: dict[str, Engine] = {
    "KERAS_LSTM": KerasLSTMEngine(),
    "KERAS_GRU": KerasGRUEngine(),
    "KERAS_GRU_RESET_BEFORE": ResetBeforeGRUEngine(),
    **{mode_of("simple_rnn", a, True): KerasRNNEngine(a) for a in ACTIVATIONS},
}  # KerasRecurrent.mode → engine
