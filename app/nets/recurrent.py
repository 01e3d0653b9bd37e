"""The shared base of the trace engines: what every recurrent kind in ``torch.nn`` has in common.

torch keeps one ``RNNBase`` for ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` with a ``mode`` that fixes the
number G of gate blocks (4, 3, 1); so does this module. A module is a stack of ``num_layers``
layers, each with one direction or two (``bidirectional``). Layer l, direction d (suffix
``_l{l}`` and ``_reverse`` for d = 1) holds, with H = hidden_size and H_out = proj_size or H::

    weight_ih (G·H, I_l)     weight_hh (G·H, H_out)     bias_ih, bias_hh (G·H,) if bias
    weight_hr (H_out, H)     (LSTM with proj_size only)

I_0 = input_size and I_l = D·H_out above: layer l + 1 reads layer l's output [→h_t ; ←h_t]. The
backward direction reads t = T−1 … 0, so the state it reads at step t is h_{t+1}, and h0 at
t = T−1 (torch's h_n then holds its state at t = 0, not at T−1: ``h_n`` is not ``output[-1]``).

What lives here:

* ``trace_layers``: the inputs accepted (see its docstring), h0/c0, the layer and direction loop,
  and the result, ``RecurrentTrace``: ``layers[l][d]`` is a ``RecurrentDirection``.
* ``RecurrentDirection``: one layer, one direction. Each kind subclasses it (``LSTMDirection`` in
  ``lstm.py``, ``GRUDirection`` in ``gru.py``, ``RNNDirection`` in ``rnn.py``) with its quantities
  under the paper's names, and inherits ``previous_hidden`` (the state each step READ),
  ``pre`` (every pre-activation) and ``unit_terms`` (one unit's pre-activations in parts that
  add up, for an equation with this step's numbers).
* ``LayerWeights``: float32 copies of one layer and direction's parameters, cached while the
  module's parameters are unchanged (same tensors, same storage, same in-place version).
* ``Engine``, the extension point, and ``FusedEngine``, what the built-in kinds are. A fused
  engine runs each layer once through torch's own fused kernel (``torch.lstm``, ``torch.gru``,
  ``torch.rnn_tanh``/``rnn_relu``, the ops behind the modules), which gives the exact h_t for
  every t; every state each step read is then known, so all pre-activations come from batched
  matmuls and the gates from elementwise passes, with no Python loop over time.

Extension point (a cell torch has no fused kernel for, e.g. a Keras GRU with
``reset_after=False`` or ``hard_sigmoid`` gates): subclass ``Engine`` and implement
``trace_layer`` with a step loop that records every gate as it goes, returning directions of a
new ``RecurrentDirection`` subclass: its ``gates``, ``activations`` and ``quantities``; where a
gate's recurrent part is scaled by another gate, ``recurrent_scale``; where a gate block's
recurrent weights multiply something other than the state read, ``recurrent_input`` (r_t ⊙ h_{t−1}
for a reset-before GRU). ``trace_layers`` then handles inputs, states, layers and the trace
shape, and ``pre`` and ``unit_terms`` work unchanged: each gate's pre-activation is
``W_ih·x + b_ih + scale ⊙ (W_hh·input + b_hh)``, its value ``activation(pre)``. The module it
traces needs ``mode`` (matched against the engine's), ``input_size``, ``hidden_size``,
``num_layers``, ``bidirectional``, ``bias`` and torch's parameter names; ``read_weights`` reads
them. ``tests/nets/test_recurrent.py`` plugs in such an engine (a reset-before GRU step loop).

Every trace is float32 on the CPU. Weights and inputs of another float dtype (float16,
bfloat16, float64) are converted to float32 first: the trace equals ``module.float()``, which
for float16/bfloat16 weights is exact and for float64 rounds each weight once.
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from app.nets.activations import ACTIVATIONS

ACTIVATION: dict[str, Callable[[Tensor], Tensor]] = ACTIVATIONS  # every name a trace's gates may carry


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """One layer and direction's parameters as float32 copies (G gate blocks of H rows each).

    ``w_ih`` (G·H, I), ``w_hh`` (G·H, H_out), ``b_ih`` and ``b_hh`` (G·H,) (zeros when the
    module has ``bias=False``), ``w_hr`` (H_out, H) for an LSTM with ``proj_size``, and
    ``kernel`` the same tensors in the order torch's fused op takes them.
    """

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor
    b_hh: Tensor
    w_hr: Tensor | None
    bias: bool
    kernel: tuple[Tensor, ...]


W = TypeVar("W", bound=LayerWeights)


def suffix(layer: int, direction: int) -> str:
    """torch's parameter suffix: ``_l0``, ``_l0_reverse``, ``_l1`` …"""
    return f"_l{layer}" + ("_reverse" if direction else "")


def parameter_names(shape: Shape) -> tuple[str, ...]:
    """One layer and direction's parameter names without suffix, in the fused kernel's order."""
    return (
        ("weight_ih", "weight_hh")
        + (("bias_ih", "bias_hh") if shape.bias else ())
        + (("weight_hr",) if shape.proj_size else ())
    )


def read_weights(module: nn.Module, shape: Shape, layer: int, direction: int) -> LayerWeights:
    """Float32 copies of layer ``layer``, direction ``direction``'s parameters.

    Raises ValueError naming a parameter that is not floating point or not on the CPU.
    """
    sfx = suffix(layer, direction)
    copies: dict[str, Tensor] = {}
    for name in parameter_names(shape):
        p = getattr(module, name + sfx)
        if not p.dtype.is_floating_point:
            raise ValueError(f"{name + sfx}: dtype {p.dtype}; a trace needs floating-point weights")
        if p.device.type != "cpu":
            raise ValueError(
                f"{name + sfx}: on {p.device}; traces run on the CPU (move the module with .cpu())"
            )
        copies[name] = p.detach().to(torch.float32, copy=True)
    w_ih, w_hh, w_hr = copies["weight_ih"], copies["weight_hh"], copies.get("weight_hr")
    zeros = torch.zeros(w_ih.shape[0])
    return LayerWeights(
        w_ih=w_ih,
        w_hh=w_hh,
        b_ih=copies.get("bias_ih", zeros),
        b_hh=copies.get("bias_hh", zeros),
        w_hr=w_hr,
        bias=shape.bias,
        kernel=tuple(copies.values()),
    )


@dataclass(frozen=True, eq=False)
class UnitTerms:
    """One unit's pre-activations, gate by gate, in parts that add up. (T, G) or (G,) each.

    The pre-activation of gate k at step t is::

        pre = from_input + bias_ih + recurrent_scale ⊙ (recurrent + bias_hh)

    ``from_input`` = W_ih·x_t and ``recurrent`` = W_hh·h_prev (the state the step READ: h_{t+1}
    for the backward direction; see ``RecurrentDirection.recurrent_input``), both without bias;
    ``recurrent_scale`` is 1 except for the GRU's candidate, where it is the reset gate r_t
    (torch: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))).
    ``value`` is the gate as traced: ``activations[k]`` applied to ``pre``.

    Unpacking gives the two-part form of ``split()``, ``state, rest = d.unit_terms(unit)``.
    """

    gates: tuple[str, ...]  # gate names in weight order
    activations: tuple[str, ...]  # "sigmoid", "tanh" or "relu" per gate
    from_input: Tensor  # (T, G) W_ih·x_t
    bias_ih: Tensor  # (G,)
    recurrent: Tensor  # (T, G) W_hh·h_prev
    bias_hh: Tensor  # (G,)
    recurrent_scale: Tensor  # (T, G) 1, or r_t for the GRU's candidate
    value: Tensor  # (T, G) the gate's value in the trace

    @property
    def pre(self) -> Tensor:
        """(T, G) the pre-activations: the sum of the parts."""
        return self.from_input + self.bias_ih + self.recurrent_scale * (self.recurrent + self.bias_hh)

    def split(self) -> tuple[Tensor, Tensor]:
        """Two parts that add up to ``pre``: (what reads the state, the rest), (T, G) each.

        (W_hh·h_prev, W_ih·x_t + b_ih + b_hh) for LSTM and RNN; the GRU's candidate puts
        r_t ⊙ W_hn·h in the first and W_in·x + b_in + r_t ⊙ b_hn in the second.
        """
        state = self.recurrent_scale * self.recurrent
        return state, self.from_input + self.bias_ih + self.recurrent_scale * self.bias_hh

    def __iter__(self) -> Iterator[Tensor]:
        return iter(self.split())


D = TypeVar("D", bound="RecurrentDirection")


@dataclass(eq=False)
class RecurrentDirection(ABC):
    """One layer, one direction of a trace. Per-step tensors are (T, ·), time-major, in the
    order of the sequence (index t is x_t), whichever way this direction read it."""

    hidden: Tensor  # (T, H_out) h_t, exactly as the module computes it
    h0: Tensor  # (H_out,) the state before the first step this direction reads
    reverse: bool  # True: read t = T−1 … 0, so step t reads h_{t+1}
    x: Tensor  # (T, I) this layer's inputs x_t (the layer below's output for l > 0)
    weights: LayerWeights

    gates: ClassVar[tuple[str, ...]]  # the gate blocks in weight order (G names)
    step_fields: ClassVar[tuple[str, ...]] = ("hidden", "x")  # (T, ·) fields, flipped by flipped()

    @property
    @abstractmethod
    def activations(self) -> tuple[str, ...]:
        """The function that makes each gate from its pre-activation, in ``gates`` order."""

    @abstractmethod
    def quantities(self) -> dict[str, Tensor]:
        """Every per-step quantity by name, (T, ·) each."""

    @property
    def hidden_size(self) -> int:
        """H: the rows of one gate block (the units ``unit_terms`` takes)."""
        return int(self.weights.w_hh.shape[0]) // len(self.gates)

    @property
    def previous_hidden(self) -> Tensor:
        """(T, H_out) the state each step READ: h_{t−1}, or h_{t+1} for the backward direction;
        h0 at the first step the direction reads (t = 0 forward, t = T−1 backward)."""
        return states_read(self.hidden, self.h0, self.reverse)

    def recurrent_scale(self) -> Tensor | None:
        """(T, G·H) the factor on each recurrent part (W_hh·h + b_hh), or None where it is 1."""
        return None

    def recurrent_input(self, block: int) -> Tensor | None:
        """(T, H_out) what gate block ``block``'s recurrent weights multiply at each step, or None
        for the state read (``previous_hidden``), as in every torch kind. A cell that resets the
        state before that matmul (a Keras GRU with ``reset_after=False``) returns r_t ⊙ h_{t−1}
        for its candidate block."""
        return None

    def _recurrent(self, rows: Tensor | None = None) -> Tensor:
        """(T, rows) W_hh·(recurrent input) for the given rows of W_hh (all rows by default)."""
        w_hh = self.weights.w_hh if rows is None else self.weights.w_hh[rows]
        out = self.previous_hidden @ w_hh.t()
        blocks = (torch.arange(w_hh.shape[0]) if rows is None else rows) // self.hidden_size
        for block in sorted(set(blocks.tolist())):
            special = self.recurrent_input(block)
            if special is not None:
                cols = (blocks == block).nonzero()[:, 0]
                out[:, cols] = special @ w_hh[cols].t()
        return out

    @property
    def pre(self) -> Tensor:
        """(T, G·H) every pre-activation W_ih·x_t + b_ih + scale ⊙ (W_hh·h_prev + b_hh), gate
        blocks in weight order, recomputed from the weights."""
        w = self.weights
        recurrent = self._recurrent() + w.b_hh
        scale = self.recurrent_scale()
        if scale is not None:
            recurrent = recurrent * scale
        return torch.addmm(w.b_ih, self.x, w.w_ih.t()) + recurrent

    def unit_terms(self, unit: int) -> UnitTerms:
        """Unit ``unit``'s pre-activation of every gate, in parts (see ``UnitTerms``).

        Raises ValueError for a unit outside 0 … H−1.
        """
        size = self.hidden_size
        if not 0 <= unit < size:
            raise ValueError(f"unit: {unit}, but hidden_size is {size} (units 0..{size - 1})")
        w = self.weights
        rows = torch.arange(len(self.gates)) * size + unit  # (G,) this unit's row in each block
        scale = self.recurrent_scale()
        steps = self.hidden.shape[0]
        return UnitTerms(
            gates=self.gates,
            activations=self.activations,
            from_input=self.x @ w.w_ih[rows].t(),
            bias_ih=w.b_ih[rows],
            recurrent=self._recurrent(rows),
            bias_hh=w.b_hh[rows],
            recurrent_scale=torch.ones(steps, len(rows)) if scale is None else scale[:, rows],
            value=torch.stack([getattr(self, g)[:, unit] for g in self.gates], dim=1),
        )

    def flipped(self: D) -> D:
        """The same direction re-indexed in reverse time order (and ``reverse`` toggled): a
        direction traced over the reversed sequence, put back in the sequence's order."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            if f.name in self.step_fields:
                value = getattr(self, f.name)
                changes[f.name] = None if value is None else value.flip(0)
        return replace(self, reverse=not self.reverse, **changes)


@dataclass(eq=False)
class RecurrentTrace(Generic[D]):
    """One sequence through a recurrent module. ``layers[l][d]`` is layer l, direction d
    (0 forward, 1 backward)."""

    kind: str  # "lstm", "gru", "rnn_tanh" or "rnn_relu"
    layers: list[list[D]]
    output: Tensor  # (T, D·H_out) equal to the module's output (its last layer, both directions)
    h_n: Tensor  # (L·D, H_out) as the module returns it (backward direction: its state at t = 0)
    c_n: Tensor | None = None  # (L·D, H) the LSTM's final cell states; None for GRU and RNN


def states_read(states: Tensor, start: Tensor, reverse: bool) -> Tensor:
    """(T, ·) the state each step read, from the states it wrote (T, ·) and the one before the
    first (·): s_{t−1}, or s_{t+1} when the direction runs backward."""
    if reverse:
        return torch.cat([states[1:], start[None]])
    return torch.cat([start[None], states[:-1]])


class States(NamedTuple):
    """One direction as torch's fused kernel left it: what a fused engine rebuilds gates from."""

    hidden: Tensor  # (T, H_out) h_t, exact
    h0: Tensor  # (H_out,)
    c0: Tensor | None  # (H,) LSTM only
    reverse: bool
    x: Tensor  # (T, I) the inputs the layer read

    def common(self) -> dict[str, Any]:
        """The ``RecurrentDirection`` fields every kind shares (all but ``weights``)."""
        return {"hidden": self.hidden, "h0": self.h0, "reverse": self.reverse, "x": self.x}


class LayerResult(NamedTuple):
    """What an engine returns for one layer (both directions)."""

    directions: list[Any]  # a RecurrentDirection per direction
    output: Tensor  # (T, D·H_out)
    h_n: Tensor  # (D, H_out)
    c_n: Tensor | None  # (D, H) LSTM only


@dataclass(frozen=True)
class Shape:
    """The sizes that fix a recurrent module's layout."""

    input_size: int
    hidden_size: int
    num_layers: int
    directions: int
    bias: bool
    proj_size: int = 0

    @property
    def out_size(self) -> int:
        """H_out: the width of h (proj_size for a projected LSTM)."""
        return self.proj_size or self.hidden_size

    @classmethod
    def of(cls, module: nn.Module) -> Shape:
        size: Any = getattr(module, "hidden_size")  # noqa: B009 (nn.Module's __getattr__ types it as a Tensor)
        return cls(
            input_size=int(getattr(module, "input_size")),  # noqa: B009
            hidden_size=int(size),
            num_layers=int(getattr(module, "num_layers")),  # noqa: B009
            directions=2 if getattr(module, "bidirectional") else 1,  # noqa: B009
            bias=bool(getattr(module, "bias")),  # noqa: B009
            proj_size=int(getattr(module, "proj_size", 0) or 0),
        )


# Engine weights per module, engine, layer and direction, reused while the parameters are the same
# tensors with the same storage and in-place version (loading or training new values, or assigning
# a new Parameter, misses). Weakly keyed: a module that goes away takes its entry with it.
_CacheEntry = tuple[tuple[Any, ...], tuple[int, ...], LayerWeights]
_WEIGHTS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, int, int], _CacheEntry]] = (
    weakref.WeakKeyDictionary()
)


def cached_weights(
    module: nn.Module, shape: Shape, tag: str, layer: int, direction: int, build: Callable[[LayerWeights], W]
) -> W:
    """``build(read_weights(...))`` for one layer and direction, cached (see ``_WEIGHTS``)."""
    sfx = suffix(layer, direction)
    # Read from the registry: nn.Module.__getattr__ costs a few µs a name.
    registered = module._parameters
    params: list[Tensor] = []
    for name in parameter_names(shape):
        p = registered.get(name + sfx)
        if p is None:  # held some other way (a parametrization): read it, never cache
            return build(read_weights(module, shape, layer, direction))
        params.append(p)
    try:
        versions = tuple(x for p in params for x in (p.data_ptr(), p._version))
    except RuntimeError:  # inference tensors keep no version counter: nothing to key on
        return build(read_weights(module, shape, layer, direction))
    per_module = _WEIGHTS.setdefault(module, {})
    entry = per_module.get((tag, layer, direction))
    if (
        entry is not None
        and entry[1] == versions
        and all(r() is p for r, p in zip(entry[0], params, strict=True))
    ):
        return entry[2]  # type: ignore[return-value]
    weights = build(read_weights(module, shape, layer, direction))
    per_module[(tag, layer, direction)] = (tuple(weakref.ref(p) for p in params), versions, weights)
    return weights


class Engine(ABC):
    """Traces one kind of recurrent module, one layer at a time (the extension point).

    ``kind`` names the trace ("lstm", "gru", …), ``name`` the module in messages, ``mode`` the
    ``mode`` attribute of the modules it takes (torch's RNNBase: "LSTM", "GRU", "RNN_TANH",
    "RNN_RELU"); ``check`` refuses a module it cannot trace; ``trace_layer`` traces both
    directions of one layer. Input tables are optional.
    """

    kind: str
    name: str
    mode: str

    def check(self, module: nn.Module) -> Shape:
        """The module's sizes; ValueError naming what the engine cannot trace."""
        mode = getattr(module, "mode", None)
        if mode != self.mode:
            got = f"mode {mode!r}" if mode is not None else "no recurrent mode"
            raise ValueError(
                f"module: a {type(module).__name__} ({got}); this engine traces {self.name} ({self.mode!r})"
            )
        return Shape.of(module)

    def has_cell(self) -> bool:
        """True when the module carries a cell state c next to h (an LSTM)."""
        return False

    @abstractmethod
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
        """Trace layer ``layer`` for inputs ``x`` (T, I) from states h0 (D, H_out), c0 (D, H).

        ``projections`` (layer 0 only, when the caller passed token ids and tables): one (T, ·)
        input projection per direction, in this engine's own table layout.
        """

    def input_table(self, module: nn.Module, shape: Shape, direction: int, embedding: Tensor) -> Tensor:
        """Layer 0's input projection of every embedding row (V, ·), in this engine's layout."""
        raise ValueError(f"embedding: the {self.name} engine has no input tables; pass inputs only")


class FusedEngine(Engine, Generic[W]):
    """An engine whose states come from torch's fused kernel and whose gates are rebuilt in a
    batch. A kind supplies ``prepare`` (its cached weight forms), ``kernel``, ``projection``
    (W_ih·x + b in its own layout) and ``rebuild`` (one direction from its exact states)."""

    @abstractmethod
    def prepare(self, weights: LayerWeights) -> W:
        """The engine's own forms of one layer and direction's weights (cached)."""

    op: Callable[..., Any]  # torch's fused op for a module without a cell state (torch.gru, …)

    def kernel(
        self, x: Tensor, h0: Tensor, c0: Tensor | None, params: list[Tensor], shape: Shape
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """torch's fused op for one layer, both directions: x (T, 1, I), h0 (D, 1, H_out) →
        output (T, 1, D·H_out), h_n (D, 1, H_out), c_n (D, 1, H) or None. This is ``op``'s call
        (torch.gru, torch.rnn_tanh, torch.rnn_relu share it); the LSTM's differs."""
        # (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
        out, h_n = self.op(x, h0, params, shape.bias, 1, 0.0, False, shape.directions == 2, False)
        return out, h_n, None

    @abstractmethod
    def projection(self, weights: W, x: Tensor) -> Tensor:
        """(T, ·) the input part of the pre-activations for inputs x (T, I), engine layout."""

    @abstractmethod
    def rebuild(self, weights: W, proj: Tensor, states: States) -> RecurrentDirection:
        """One direction's gates from its exact states; ``proj`` (T, ·) is ``projection``'s (or
        a table lookup), a new tensor the rebuild owns and may overwrite."""

    def weights(self, module: nn.Module, shape: Shape, layer: int, direction: int) -> W:
        """This layer and direction's weights in the engine's forms, cached (``cached_weights``)."""
        return cached_weights(module, shape, self.kind, layer, direction, self.prepare)

    def input_table(self, module: nn.Module, shape: Shape, direction: int, embedding: Tensor) -> Tensor:
        return self.projection(self.weights(module, shape, 0, direction), embedding.detach().float())

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
        weights = [self.weights(module, shape, layer, d) for d in range(shape.directions)]
        params = [p for w in weights for p in w.kernel]
        # torch's own fused kernel, one layer, both directions: the exact states.
        out, h_n, c_n = self.kernel(
            x.unsqueeze(1), h0.unsqueeze(1), None if c0 is None else c0.unsqueeze(1), params, shape
        )
        out = out[:, 0]  # (T, D·H_out)
        width = shape.out_size
        directions = []
        for d, w in enumerate(weights):
            proj = projections[d] if projections is not None else self.projection(w, x)
            if proj.shape[1] != w.w_ih.shape[0]:
                raise ValueError(
                    f"tables: rows of {proj.shape[1]} numbers, but this {self.name} engine's are "
                    f"{w.w_ih.shape[0]} wide (make them with its input_tables)"
                )
            hidden = out[:, d * width : (d + 1) * width] if shape.directions > 1 else out
            states = States(hidden, h0[d], None if c0 is None else c0[d], bool(d), x)
            directions.append(self.rebuild(w, proj, states))
        return LayerResult(directions, out, h_n[:, 0], None if c_n is None else c_n[:, 0])


def sequence(module: nn.Module, x: Tensor, name: str) -> Tensor:
    """The one sequence ``x`` holds, as (T, input_size) float32 (see ``trace_layers``)."""
    size = int(getattr(module, "input_size"))  # noqa: B009
    if not isinstance(x, Tensor):
        raise ValueError(f"x: a {type(x).__name__}; pass a tensor of inputs [T, {size}]")
    if not x.dtype.is_floating_point:
        raise ValueError(
            f"x: dtype {x.dtype}; inputs are floating-point vectors [T, {size}] "
            "(for token ids, pass their vectors as x and the ids as ids=)"
        )
    batch_first = bool(getattr(module, "batch_first", False))
    if x.dim() == 3:
        batch = x.shape[0] if batch_first else x.shape[1]
        if batch != 1:
            layout = "(batch, T, input_size)" if batch_first else "(T, batch, input_size)"
            raise ValueError(
                f"x: {list(x.shape)} holds {batch} sequences (batch_first={batch_first}: {layout}); "
                "trace one sequence at a time"
            )
        x = x[0] if batch_first else x[:, 0]
    if x.dim() != 2 or x.shape[1] != size:
        raise ValueError(f"x: inputs are {list(x.shape)}, but this {name} needs [T, {size}] (input_size)")
    if x.shape[0] == 0:
        raise ValueError("x: 0 steps; a trace needs at least one input")
    return x.detach().to(device="cpu", dtype=torch.float32)


def initial_state(given: Tensor | None, rows: int, width: int, field: str, what: str) -> Tensor:
    """(rows, width) float32 initial state: zeros unless given (any shape holding rows·width)."""
    if given is None:
        return torch.zeros(rows, width)
    if not isinstance(given, Tensor) or not given.dtype.is_floating_point:
        raise ValueError(f"{field}: pass a floating-point tensor ({what})")
    if given.numel() != rows * width:
        raise ValueError(
            f"{field}: {list(given.shape)} holds {given.numel()} numbers, but {what} is "
            f"[{rows}, {width}] (num_layers·directions, size)"
        )
    return given.detach().to(device="cpu", dtype=torch.float32).reshape(rows, width)


def trace_layers(
    engine: Engine,
    module: nn.Module,
    x: Tensor,
    *,
    ids: Tensor | None = None,
    tables: list[Tensor] | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
) -> RecurrentTrace[Any]:
    """Trace one sequence through every layer and direction of ``module`` with ``engine``.

    x: one sequence, (T, input_size), or (T, 1, input_size) with ``batch_first=False``, or
    (1, T, input_size) with ``batch_first=True`` (the module's own layout with a batch of one).
    Any float dtype; traced in float32.
    ids, tables: for embedding (or one-hot) inputs, the token ids (T,) and the engine's
    ``input_tables`` (one per direction): layer 0's input part is then a lookup, not a matmul.
    x must still be the vectors the ids stand for.
    h0: (L·D, H_out) initial hidden states, zeros unless given; c0: (L·D, H) initial cells (LSTM
    only). (L·D, 1, ·) as torch takes them works too.

    Raises ValueError naming the argument (x, ids, tables, h0, c0) or parameter it refuses.
    """
    shape = engine.check(module)
    xs = sequence(module, x, engine.name)
    rows = shape.num_layers * shape.directions
    what = f"this {engine.name}'s initial state"
    h = initial_state(h0, rows, shape.out_size, "h0", what)
    c: Tensor | None = None
    if engine.has_cell():
        c = initial_state(c0, rows, shape.hidden_size, "c0", f"this {engine.name}'s initial cell state")
    elif c0 is not None:
        raise ValueError(f"c0: only an LSTM has a cell state; this is a {engine.name}")
    projections = lookups(ids, tables, xs.shape[0], shape.directions)
    layers, h_n, c_n = [], [], []
    layer_in = xs
    for layer in range(shape.num_layers):
        sl = slice(layer * shape.directions, (layer + 1) * shape.directions)
        result = engine.trace_layer(
            module,
            shape,
            layer,
            layer_in,
            h[sl],
            None if c is None else c[sl],
            projections if layer == 0 else None,
        )
        layers.append(result.directions)
        h_n.append(result.h_n)
        if result.c_n is not None:
            c_n.append(result.c_n)
        layer_in = result.output
    return RecurrentTrace(
        kind=engine.kind,
        layers=layers,
        output=layer_in,
        h_n=torch.cat(h_n) if len(h_n) > 1 else h_n[0],
        c_n=(torch.cat(c_n) if len(c_n) > 1 else c_n[0]) if c_n else None,
    )


def lookups(
    ids: Tensor | None, tables: list[Tensor] | None, steps: int, directions: int
) -> list[Tensor] | None:
    """Layer 0's input projections looked up from ``tables`` by ``ids``, or None."""
    if ids is None and tables is None:
        return None
    if ids is None or tables is None:
        raise ValueError("ids, tables: pass both (token ids and their input tables) or neither")
    if ids.dim() != 1 or ids.shape[0] != steps or ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"ids: {list(ids.shape)} {ids.dtype}; need {steps} integer token ids (one per step)")
    if len(tables) != directions:
        raise ValueError(f"tables: {len(tables)} given, but this module has {directions} direction(s)")
    try:
        return [F.embedding(ids, table) for table in tables]
    except IndexError:  # torch checks the range as it gathers: no extra pass over the ids
        size = tables[0].shape[0]
        raise ValueError(f"ids: values must be in 0..{size - 1} (the tables have {size} rows)") from None


def input_tables(engine: Engine, module: nn.Module, embedding: Tensor) -> list[Tensor]:
    """Layer 0's input projection of every embedding row (V, I), one table per direction."""
    shape = engine.check(module)
    if embedding.dim() != 2 or embedding.shape[1] != shape.input_size:
        raise ValueError(
            f"embedding: {list(embedding.shape)}, but this {engine.name} reads vectors of "
            f"{shape.input_size} (input_size)"
        )
    with torch.inference_mode():
        return [engine.input_table(module, shape, d, embedding) for d in range(shape.directions)]
