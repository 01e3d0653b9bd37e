"""Cells as one-layer modules: ``nn.LSTMCell``, ``nn.GRUCell`` and ``nn.RNNCell``.

A cell is one step of a one-layer, one-direction recurrent module, with the same parameters under
shorter names (torch's ``weight_ih`` is a module's ``weight_ih_l0``)::

    nn.LSTMCell(I, H)  ≡  layer 0 of nn.LSTM(I, H)      weight_ih (4H, I), weight_hh (4H, H)
    nn.GRUCell(I, H)   ≡  layer 0 of nn.GRU(I, H)       weight_ih (3H, I), weight_hh (3H, H)
    nn.RNNCell(I, H)   ≡  layer 0 of nn.RNN(I, H)       weight_ih (H, I),  weight_hh (H, H)
                                                       bias_ih, bias_hh (G·H,) when bias=True

Running the cell over x_0 … x_{T−1} from h0 (and c0) gives, step by step, the module's output.
``module_from_cell`` builds that module around the cell's own parameters (shared, not copied), so
the trace engines take cells unchanged. ``find_cells`` recognises a cell's weights in a
state_dict (keys ending in ``weight_ih`` etc. without ``_l0``), for readers of users' files.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

# Module classes typed as plain constructors: nn.RNNBase's own signature starts with ``mode``.
CELLS: dict[type[nn.Module], Callable[..., nn.RNNBase]] = {
    nn.LSTMCell: nn.LSTM,
    nn.GRUCell: nn.GRU,
    nn.RNNCell: nn.RNN,
}
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
KIND_BY_GATES = {4: "lstm", 3: "gru", 1: "rnn"}  # rows of weight_hh per hidden unit
MODULES: dict[str, Callable[..., nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

_MODULES: weakref.WeakKeyDictionary[nn.Module, nn.RNNBase] = weakref.WeakKeyDictionary()


def is_cell(module: object) -> bool:
    """True for ``nn.LSTMCell``, ``nn.GRUCell`` and ``nn.RNNCell`` (and their subclasses)."""
    return isinstance(module, tuple(CELLS))


def module_from_cell(cell: nn.Module) -> nn.RNNBase:
    """The one-layer module equal to running ``cell`` over a sequence.

    Its ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0`` and ``bias_hh_l0`` ARE the cell's
    parameters (the same tensors), so it follows the cell's training and loading. An
    ``nn.RNNCell`` keeps its ``nonlinearity``. The module is made once per cell and rebuilt only
    when a parameter of the cell is replaced. Raises ValueError for anything but the three cells.
    """
    module_type = next((m for c, m in CELLS.items() if isinstance(cell, c)), None)
    if module_type is None:
        raise ValueError(f"module: a {type(cell).__name__}, not nn.LSTMCell, nn.GRUCell or nn.RNNCell")
    params = {name: getattr(cell, name) for name in NAMES if getattr(cell, name, None) is not None}
    module = _MODULES.get(cell)
    if module is not None and all(getattr(module, f"{n}_l0") is p for n, p in params.items()):
        return module
    extra = {"nonlinearity": cell.nonlinearity} if isinstance(cell, nn.RNNCell) else {}
    sizes: Any = (getattr(cell, "input_size"), getattr(cell, "hidden_size"), getattr(cell, "bias"))  # noqa: B009
    # Built on the meta device (no memory, no random init), then given the cell's parameters.
    module = module_type(sizes[0], sizes[1], bias=sizes[2], device="meta", **extra)
    for name, param in params.items():
        setattr(module, f"{name}_l0", param)
    _MODULES[cell] = module
    return module


@dataclass(frozen=True)
class CellWeights:
    """A cell's weights found in a state_dict under ``prefix`` (e.g. ``"decoder.cell."``)."""

    prefix: str
    kind: str  # "lstm", "gru" or "rnn" (an RNN cell's tanh or relu is not in its weights)
    input_size: int
    hidden_size: int
    bias: bool

    def layer_state_dict(self, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The cell's tensors renamed as layer 0 of a module: ``weight_ih`` → ``weight_ih_l0`` …"""
        names = NAMES if self.bias else NAMES[:2]
        return {f"{name}_l0": state_dict[self.prefix + name] for name in names}

    def module(self, state_dict: Mapping[str, Tensor], nonlinearity: str = "tanh") -> nn.RNNBase:
        """A one-layer ``nn.LSTM``/``nn.GRU``/``nn.RNN`` holding these weights (float32 unless
        they are another float dtype, which it keeps). ``nonlinearity`` applies to an RNN cell:
        the weights cannot tell tanh from relu, so the caller must (torch's default is tanh)."""
        extra = {"nonlinearity": nonlinearity} if self.kind == "rnn" else {}
        weights = self.layer_state_dict(state_dict)
        dtype = weights["weight_ih_l0"].dtype
        module = MODULES[self.kind](self.input_size, self.hidden_size, bias=self.bias, dtype=dtype, **extra)
        with torch.no_grad():
            module.load_state_dict(weights)
        return module


def find_cells(state_dict: Mapping[str, object]) -> list[CellWeights]:
    """Every cell whose weights ``state_dict`` holds, by prefix (keys ``{prefix}weight_ih``,
    ``{prefix}weight_hh`` and, with bias, ``{prefix}bias_ih``, ``{prefix}bias_hh``).

    The kind comes from the shapes: weight_hh is (G·H, H) with G = 4 (LSTM), 3 (GRU) or 1 (RNN),
    weight_ih is (G·H, I) and each bias (G·H,). A group whose shapes do not fit, or with one bias
    but not the other, is not reported. Module keys (``weight_ih_l0``) never match.
    """
    found = []
    for key in sorted(k for k in state_dict if isinstance(k, str) and k.endswith("weight_ih")):
        prefix = key[: -len("weight_ih")]
        if prefix and not prefix.endswith("."):
            continue  # e.g. "my_weight_ih": not a cell's parameter name
        w_ih, w_hh = state_dict.get(key), state_dict.get(prefix + "weight_hh")
        b_ih, b_hh = state_dict.get(prefix + "bias_ih"), state_dict.get(prefix + "bias_hh")
        if not (isinstance(w_ih, Tensor) and isinstance(w_hh, Tensor)) or w_ih.dim() != 2 or w_hh.dim() != 2:
            continue
        rows, hidden = w_hh.shape
        if hidden == 0 or rows % hidden or rows // hidden not in KIND_BY_GATES or w_ih.shape[0] != rows:
            continue
        if (b_ih is None) != (b_hh is None):
            continue
        bias = b_ih is not None
        if bias and not all(isinstance(b, Tensor) and tuple(b.shape) == (rows,) for b in (b_ih, b_hh)):
            continue
        kind = KIND_BY_GATES[rows // hidden]
        found.append(CellWeights(prefix, kind, int(w_ih.shape[1]), int(hidden), bias))
    return found
