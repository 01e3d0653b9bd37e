"""The vanilla RNN trace engine: both pre-activation parts and the hidden state of any ``nn.RNN``.

The seed material's recurrent cell, in torch's parametrisation (two bias vectors)::

    h_t = f(W·[h_{t−1}, x_t] + b)
        = f(W_ih·x_t + b_ih  +  W_hh·h_{t−1} + b_hh)        f = tanh (or relu)
          └── from_input ──┘   └──── recurrent ────┘

W = [W_hh | W_ih] acting on the concatenation [h_{t−1}, x_t] is the same product written as one
matrix; b = b_ih + b_hh. A plain layer of neurons h = f(W_ih·x + b) is the special case h_{t−1} = 0.

How it runs. Each layer goes once through torch's own fused kernel (``torch.rnn_tanh`` /
``torch.rnn_relu``, the ops behind ``nn.RNN``), so h_t is exactly what ``nn.RNN`` returns. Every
h_{t−1} is then known, and both pre-activation parts come from one batched matmul each
(``[h_{t−1}] @ W_hhᵀ`` and ``[x_t] @ W_ihᵀ``, or a table lookup for one-hot or embedding inputs),
just as ``app.nets.lstm`` does for the LSTM. A Python loop over steps would be simpler to read, but
it recomputes h_t with a different summation order than torch (so it only matches to ~1e-7, not
bit for bit) and costs several times the fused kernel for the 2000-character texts the page allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass
class RNNDirectionTrace:
    """One layer, one direction. Every tensor is (T, H), time-major."""

    from_input: Tensor  # W_ih·x_t + b_ih
    recurrent: Tensor  # W_hh·h_{t−1} + b_hh
    hidden: Tensor  # h_t, exactly as nn.RNN computes it
    h0: Tensor  # (H,) state before the first step this direction reads
    reverse: bool = False  # the backward direction reads t = T−1 … 0

    @property
    def pre(self) -> Tensor:
        """(T, H) the full pre-activation W·[h_{t−1}, x_t] + b; h_t = f(pre)."""
        return self.from_input + self.recurrent

    @property
    def previous(self) -> Tensor:
        """(T, H) the state each step read: h_{t−1} (h_{t+1} backward), half of [h_{t−1}, x_t]."""
        return _previous(self.hidden, self.h0, self.reverse)


@dataclass
class RNNTrace:
    """``layers[l][d]`` is layer l, direction d (0 forward, 1 backward)."""

    layers: list[list[RNNDirectionTrace]]
    output: Tensor  # (T, D·H), equals nn.RNN's output
    h_n: Tensor  # (L·D, H), as nn.RNN returns it


def _previous(hidden: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """The state each step reads: h_{t−1} forward; h_{t+1} for the backward direction."""
    if reverse:
        return torch.cat([hidden[1:], h0[None]])
    return torch.cat([h0[None], hidden[:-1]])  # (T, H)


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def input_tables(rnn: nn.RNN, embedding: Tensor) -> list[Tensor]:
    """Layer 0's W_ih·e_v + b_ih for every embedding row e_v: one (V, H) table per direction.

    For one-hot inputs pass ``torch.eye(V)``; the table is then W_ihᵀ + b_ih, and looking up row v
    equals the product W_ih·x_t exactly (the other terms are products with 0).
    """
    tables = []
    for d in range(2 if rnn.bidirectional else 1):
        w_ih = getattr(rnn, "weight_ih" + _suffix(0, d))
        table = embedding.float() @ w_ih.t()  # (V, H)
        if rnn.bias:
            table = table + getattr(rnn, "bias_ih" + _suffix(0, d))
        tables.append(table)
    return tables


@torch.inference_mode()
def trace_rnn(
    rnn: nn.RNN,
    x: Tensor,
    *,
    ids: Tensor | None = None,
    tables: list[Tensor] | None = None,
    h0: Tensor | None = None,
) -> RNNTrace:
    """Trace one sequence through ``rnn``.

    x: (T, input_size) inputs. For one-hot or embedding inputs, also pass the token ``ids`` (T,)
    and the ``tables`` from ``input_tables``: layer 0's input part is then a lookup, not a matmul.
    h0: (L·D, H) initial state, zeros unless given (nn.RNN's convention).
    """
    if x.dim() != 2 or x.shape[1] != rnn.input_size:
        raise ValueError(f"inputs are {list(x.shape)}, but this RNN needs [T, {rnn.input_size}] (input_size)")
    kernel = {"tanh": torch.rnn_tanh, "relu": torch.rnn_relu}[rnn.nonlinearity]
    dirs = 2 if rnn.bidirectional else 1
    size = rnn.hidden_size
    states = rnn.num_layers * dirs
    h0 = torch.zeros(states, size) if h0 is None else h0.reshape(states, size).float()
    layers: list[list[RNNDirectionTrace]] = []
    h_n = []
    layer_in = x.float()  # (T, I)
    for layer in range(rnn.num_layers):
        params: list[Tensor] = []
        for d in range(dirs):
            names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if rnn.bias else ())
            params += [getattr(rnn, name + _suffix(layer, d)) for name in names]
        sl = slice(layer * dirs, (layer + 1) * dirs)
        # torch's own fused RNN kernel, one layer, both directions: the exact hidden states.
        out, hn = kernel(
            layer_in[:, None],
            h0[sl, None],
            params,
            rnn.bias,
            1,  # num_layers
            0.0,  # dropout
            False,  # train
            rnn.bidirectional,
            False,  # batch_first
        )  # out: (T, 1, D·H)
        out = out[:, 0]
        traces = []
        for d in range(dirs):
            sfx = _suffix(layer, d)
            w_ih, w_hh = getattr(rnn, "weight_ih" + sfx), getattr(rnn, "weight_hh" + sfx)
            if layer == 0 and tables is not None and ids is not None:
                from_input = F.embedding(ids, tables[d])  # (T, H) lookup
            elif rnn.bias:
                from_input = torch.addmm(getattr(rnn, "bias_ih" + sfx), layer_in, w_ih.t())
            else:
                from_input = layer_in @ w_ih.t()
            hidden = out[:, d * size : (d + 1) * size]
            state = h0[layer * dirs + d]
            prev = _previous(hidden, state, reverse=bool(d))
            if rnn.bias:
                recurrent = torch.addmm(getattr(rnn, "bias_hh" + sfx), prev, w_hh.t())  # (T, H)
            else:
                recurrent = prev @ w_hh.t()
            traces.append(RNNDirectionTrace(from_input, recurrent, hidden, state, reverse=bool(d)))
        layers.append(traces)
        h_n.append(hn[:, 0])
        layer_in = out
    return RNNTrace(layers=layers, output=layer_in, h_n=torch.cat(h_n))
