"""The LSTM trace engine: every gate, cell and hidden state of any ``nn.LSTM``, at every step.

The seed material's equations, in torch's gate order (``weight_ih_l0`` stacks i, f, g, o)::

    i_t = σ(W_i·[h_{t−1}, x_t] + b_i)      input gate
    f_t = σ(W_f·[h_{t−1}, x_t] + b_f)      forget gate
    g̃_t = tanh(W_g·[h_{t−1}, x_t] + b_g)   candidate
    o_t = σ(W_o·[h_{t−1}, x_t] + b_o)      output gate
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g̃_t         cell state
    h_t = o_t ⊙ tanh(c_t)                  hidden state

How it is fast. A Python loop over time costs ~7.5× ``nn.LSTM``. Instead each layer runs once
through torch's own fused kernel (``torch.lstm``, the op behind ``nn.LSTM``), which gives the exact
h_t for all t. Every h_{t−1} is then known, so all pre-activations come from ONE batched matmul
``[h_{t−1}] @ W_hhᵀ`` (plus the input projection, a table lookup for embedding inputs), and the
gates are elementwise: one sigmoid pass over all four blocks, with the candidate's rows scaled by
2 beforehand so that g̃ = tanh(z) = 2σ(2z) − 1 (tanh itself costs 3.5× a sigmoid here; scaling by 2
is exact in floating point). The cell state obeys a linear recurrence c_t = f_t c_{t−1} + i_t g̃_t; it is
solved by a chunked scan (a short loop inside chunks, vectorised across chunks, then one carry
pass), which keeps torch's left-to-right summation order inside each chunk.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

GATES = ("input", "forget", "candidate", "output")  # torch's order in weight_ih_l{k}: i, f, g, o


@dataclass
class DirectionTrace:
    """One layer, one direction. Every tensor is (T, H), time-major."""

    input: Tensor
    forget: Tensor
    candidate: Tensor
    output: Tensor
    cell: Tensor
    hidden: Tensor
    h0: Tensor  # (H,) state before the first step this direction reads
    c0: Tensor  # (H,)
    reverse: bool
    scaled_proj: Tensor  # (T, 4H) W_ih·x_t + b, candidate block times 2 (see module docstring)
    scaled_w_hh: Tensor  # (4H, H) W_hh, candidate rows times 2

    @property
    def prev_hidden(self) -> Tensor:
        """(T, H) the h_{t−1} each step reads (h_{t+1} for the backward direction)."""
        if self.reverse:
            return torch.cat([self.hidden[1:], self.h0[None]])
        return torch.cat([self.h0[None], self.hidden[:-1]])

    @property
    def pre(self) -> Tensor:
        """(T, 4H) pre-activations W·[h_{t−1}, x_t] + b, gate order i, f, g, o (recomputed)."""
        scaled = torch.addmm(self.scaled_proj, self.prev_hidden, self.scaled_w_hh.t())
        return scaled * _gate_scale(self.hidden.shape[1], inverse=True)

    def unit_terms(self, unit: int) -> tuple[Tensor, Tensor]:
        """For one unit, (W_hh·h_{t−1}, W_ih·x_t + b): (T, 4) each, gate order i, f, g, o.

        Their sum is the pre-activation whose σ (tanh for g̃) is the gate value at each step.
        """
        size = self.hidden.shape[1]
        rows = torch.arange(4) * size + unit
        unscale = _gate_scale(size, inverse=True)[rows]
        recurrent = self.prev_hidden @ self.scaled_w_hh[rows].t() * unscale
        return recurrent, self.scaled_proj[:, rows] * unscale

    def quantities(self) -> dict[str, Tensor]:
        """The six per-step quantities, by name."""
        return {
            "forget": self.forget,
            "input": self.input,
            "candidate": self.candidate,
            "output": self.output,
            "cell": self.cell,
            "hidden": self.hidden,
        }


@dataclass
class LSTMTrace:
    """``layers[l][d]`` is layer l, direction d (0 forward, 1 backward)."""

    layers: list[list[DirectionTrace]]
    output: Tensor  # (T, D·H), equals nn.LSTM's output for the last layer
    h_n: Tensor  # (L·D, H), as nn.LSTM returns it
    c_n: Tensor  # (L·D, H)


def check_lstm(lstm: nn.LSTM) -> None:
    """Refuse what the engine does not trace, with a reason."""
    if lstm.proj_size:
        raise ValueError(f"LSTM with proj_size={lstm.proj_size} is not supported (only proj_size=0)")


def _gate_scale(size: int, inverse: bool = False) -> Tensor:
    """(4H,) factors: 1 for i, f, o and 2 for the candidate block (½ with ``inverse``)."""
    scale = torch.ones(4 * size)
    scale[2 * size : 3 * size] = 0.5 if inverse else 2.0
    return scale


Weights = tuple[Tensor, Tensor, Tensor | None]

# Scaled weights per module, layer and direction, reused while the parameters are unchanged (the
# key holds each parameter's storage and in-place version counter, so loading or training new
# values invalidates it).
_WEIGHTS: weakref.WeakKeyDictionary[nn.LSTM, dict[tuple[int, int], tuple[tuple[int, ...], Weights]]] = (
    weakref.WeakKeyDictionary()
)


def _layer_weights(lstm: nn.LSTM, layer: int, direction: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """(W_ih, W_hh, b_ih + b_hh) of one layer and direction, candidate rows scaled by 2."""
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if lstm.bias else [])
    params = [getattr(lstm, n + suffix) for n in names]
    try:
        key = tuple(x for p in params for x in (p.data_ptr(), p._version))
    except RuntimeError:  # inference tensors keep no version counter: nothing to key on
        return _scaled_weights(lstm, suffix)
    cached = _WEIGHTS.setdefault(lstm, {}).get((layer, direction))
    if cached is not None and cached[0] == key:
        return cached[1]
    weights = _scaled_weights(lstm, suffix)
    _WEIGHTS[lstm][(layer, direction)] = (key, weights)
    return weights


def _scaled_weights(lstm: nn.LSTM, suffix: str) -> tuple[Tensor, Tensor, Tensor | None]:
    scale = _gate_scale(lstm.hidden_size)[:, None]
    w_ih = getattr(lstm, "weight_ih" + suffix) * scale
    w_hh = getattr(lstm, "weight_hh" + suffix) * scale
    bias = None
    if lstm.bias:
        bias = (getattr(lstm, "bias_ih" + suffix) + getattr(lstm, "bias_hh" + suffix)) * scale[:, 0]
    return w_ih, w_hh, bias


def input_tables(lstm: nn.LSTM, embedding: Tensor) -> list[Tensor]:
    """Layer 0's input projection W_ih·e_v + b for every embedding row e_v, one (V, 4H) table per
    direction, in the engine's scaled layout. Pass them with token ids to ``trace_lstm``."""
    tables = []
    for d in range(2 if lstm.bidirectional else 1):
        w_ih, _, bias = _layer_weights(lstm, 0, d)
        table = embedding.float() @ w_ih.t()
        tables.append(table + bias if bias is not None else table)
    return tables


def cell_scan(forget: np.ndarray, drive: np.ndarray, c0: np.ndarray, chunk: int = 0) -> np.ndarray:
    """Solve c_t = forget_t ⊙ c_{t−1} + drive_t for all t; arrays are (T, H) float32.

    Time is cut into chunks of K steps. Inside the chunks the recurrence runs sequentially, all
    chunks at once, from a zero start, so the arithmetic order is that of a plain loop; a carry pass
    then adds each chunk's incoming state, scaled by the running product of forget gates. That is
    ~2K + 2T/K small vectorised operations instead of T.
    """
    steps, width = drive.shape
    if steps == 0:
        return drive.copy()
    k = chunk or max(1, int(round(np.sqrt(steps))))
    n = -(-steps // k)  # number of chunks
    pad = n * k - steps
    if pad:
        forget = np.concatenate([forget, np.ones((pad, width), forget.dtype)])
        drive = np.concatenate([drive, np.zeros((pad, width), drive.dtype)])
    # (K, chunks, H): row j holds step j of every chunk, contiguous.
    f = np.ascontiguousarray(forget.reshape(n, k, width).transpose(1, 0, 2))
    local = np.ascontiguousarray(drive.reshape(n, k, width).transpose(1, 0, 2))
    prod = f.copy()  # running product of forget gates inside each chunk
    tmp = np.empty_like(local[0])
    for j in range(1, k):
        np.multiply(f[j], local[j - 1], out=tmp)
        local[j] += tmp  # local_j = f_j * local_{j-1} + drive_j: the loop's order
        np.multiply(prod[j], prod[j - 1], out=prod[j])
    carry = np.empty((n, width), drive.dtype)  # state entering each chunk
    carry[0] = c0
    last_local, last_prod = local[-1], prod[-1]
    for m in range(1, n):
        np.multiply(last_prod[m - 1], carry[m - 1], out=carry[m])
        carry[m] += last_local[m - 1]
    local += prod * carry[None]
    return local.transpose(1, 0, 2).reshape(n * k, width)[:steps]


def _trace_direction(
    proj: Tensor, hidden: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, reverse: bool
) -> DirectionTrace:
    """Rebuild gates and cells of one direction from its exact hidden states ``hidden`` (T, H).

    proj: (T, 4H) scaled input projection W_ih·x_t + b; w_hh: (4H, H) scaled recurrent weights.
    """
    steps, size = hidden.shape
    gates = torch.empty(steps, 4 * size)  # pre-activations first, then σ in place
    if reverse:  # backward reads t = T−1 … 0, so its "previous" state at t is h_{t+1}
        torch.addmm(proj[:-1], hidden[1:], w_hh.t(), out=gates[:-1])
        torch.addmv(proj[-1], w_hh, h0, out=gates[-1])
    else:
        torch.addmm(proj[1:], hidden[:-1], w_hh.t(), out=gates[1:])
        torch.addmv(proj[0], w_hh, h0, out=gates[0])
    gates.sigmoid_()  # one pass over all four blocks; the candidate block holds σ(2z)
    i, f, g, o = gates.split(size, dim=1)
    g.mul_(2).sub_(1)  # in place: tanh(z) = 2σ(2z) − 1
    f_np, drive = f.numpy(), (i * g).numpy()
    if reverse:
        cell_np = cell_scan(f_np[::-1], drive[::-1], c0.numpy())[::-1].copy()
    else:
        cell_np = cell_scan(f_np, drive, c0.numpy())
    return DirectionTrace(
        input=i,
        forget=f,
        candidate=g,
        output=o,
        cell=torch.from_numpy(cell_np),
        hidden=hidden,
        h0=h0,
        c0=c0,
        reverse=reverse,
        scaled_proj=proj,
        scaled_w_hh=w_hh,
    )


@torch.inference_mode()
def trace_lstm(
    lstm: nn.LSTM,
    x: Tensor,
    *,
    ids: Tensor | None = None,
    tables: list[Tensor] | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
) -> LSTMTrace:
    """Trace one sequence through ``lstm``.

    x: (T, input_size) inputs. For embedding inputs, also pass the token ``ids`` (T,) and the
    ``tables`` from ``input_tables``: layer 0's input projection then is a lookup, not a matmul.
    h0, c0: (L·D, H) initial states, zeros unless given (nn.LSTM's convention).
    """
    check_lstm(lstm)
    if x.dim() != 2 or x.shape[1] != lstm.input_size:
        raise ValueError(
            f"inputs are {list(x.shape)}, but this LSTM needs [T, {lstm.input_size}] (input_size)"
        )
    dirs = 2 if lstm.bidirectional else 1
    size = lstm.hidden_size
    states = lstm.num_layers * dirs
    h0 = torch.zeros(states, size) if h0 is None else h0.reshape(states, size).float()
    c0 = torch.zeros(states, size) if c0 is None else c0.reshape(states, size).float()
    layers: list[list[DirectionTrace]] = []
    h_n, c_n = [], []
    layer_in = x.float()  # (T, I)
    for layer in range(lstm.num_layers):
        params: list[Tensor] = []
        for d in range(dirs):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            params += [getattr(lstm, "weight_ih" + suffix), getattr(lstm, "weight_hh" + suffix)]
            if lstm.bias:
                params += [getattr(lstm, "bias_ih" + suffix), getattr(lstm, "bias_hh" + suffix)]
        sl = slice(layer * dirs, (layer + 1) * dirs)
        # torch's own fused LSTM kernel, one layer, both directions: the exact hidden states.
        out, hn, cn = torch.lstm(
            layer_in[:, None],
            (h0[sl, None], c0[sl, None]),
            params,
            lstm.bias,
            1,  # num_layers
            0.0,  # dropout
            False,  # train
            lstm.bidirectional,
            False,  # batch_first
        )  # out: (T, 1, D·H)
        out = out[:, 0]
        traces = []
        for d in range(dirs):
            w_ih, w_hh, bias = _layer_weights(lstm, layer, d)
            if layer == 0 and tables is not None and ids is not None:
                proj = F.embedding(ids, tables[d])  # (T, 4H) lookup
            elif bias is None:
                proj = layer_in @ w_ih.t()
            else:
                proj = torch.addmm(bias, layer_in, w_ih.t())
            hidden = out[:, d * size : (d + 1) * size]
            state = layer * dirs + d
            traces.append(_trace_direction(proj, hidden, w_hh, h0[state], c0[state], bool(d)))
        layers.append(traces)
        h_n.append(hn[:, 0])
        c_n.append(cn[:, 0])
        layer_in = out
    return LSTMTrace(layers=layers, output=layer_in, h_n=torch.cat(h_n), c_n=torch.cat(c_n))
