"""Which engine traces which module: one entry point for every recurrent module in ``torch.nn``.

``trace_recurrent(module, x)`` takes an ``nn.LSTM`` (``proj_size`` too), ``nn.GRU``, ``nn.RNN``
(tanh or relu), any number of layers, one or two directions, with or without bias, either
``batch_first``, or an ``nn.LSTMCell``/``nn.GRUCell``/``nn.RNNCell`` (traced as the one-layer
module it is a step of: ``app.nets.cells``), and returns a ``RecurrentTrace``
(``app.nets.recurrent``): ``kind``, ``layers[l][d]`` with each direction's quantities under the
paper's names, ``output``, ``h_n`` and, for an LSTM, ``c_n``. The engines are one file per kind:
``lstm.py``, ``gru.py``, ``rnn.py``, each with its equations, and ``keras_cells.py`` for the Keras
layers torch has no module for (reset-before GRU, other activations).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from app.nets import gru, keras_cells, lstm, rnn
from app.nets.cells import is_cell, module_from_cell
from app.nets.recurrent import Engine, RecurrentTrace, trace_layers
from app.nets.recurrent import input_tables as _input_tables

ENGINES: dict[str, Engine] = {
    "LSTM": lstm.ENGINE,
    "GRU": gru.ENGINE,
    "RNN_TANH": rnn.ENGINES["tanh"],
    "RNN_RELU": rnn.ENGINES["relu"],
    **keras_cells.ENGINES,
}  # torch's RNNBase.mode (or KerasRecurrent.mode) → engine
SUPPORTED = "nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell or a KerasRecurrent"


def resolve(module: nn.Module) -> tuple[Engine, nn.Module]:
    """(the engine, the module it traces): a cell becomes its one-layer module.

    Raises ValueError for a module no engine traces.
    """
    if is_cell(module):
        module = module_from_cell(module)
    mode = getattr(module, "mode", None) if isinstance(module, nn.Module) else None
    engine = ENGINES.get(mode) if isinstance(mode, str) else None
    if engine is None:
        raise ValueError(f"module: a {type(module).__name__}; the trace engines take {SUPPORTED}")
    return engine, module


def kind_of(module: nn.Module) -> str:
    """The trace kind of a module: "lstm", "gru", "rnn_tanh" or "rnn_relu" (ValueError otherwise)."""
    return resolve(module)[0].kind


def input_tables(module: nn.Module, embedding: Tensor) -> list[Tensor]:
    """Layer 0's input projection of every row of ``embedding`` (V, input_size), one table per
    direction, in the module's engine's layout: pass them with token ids to ``trace_recurrent``.
    For one-hot inputs pass ``torch.eye(V)``."""
    engine, target = resolve(module)
    return _input_tables(engine, target, embedding)


@torch.inference_mode()
def trace_recurrent(
    module: nn.Module,
    x: Tensor,
    *,
    ids: Tensor | None = None,
    tables: list[Tensor] | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
) -> RecurrentTrace[Any]:
    """Trace one sequence through any recurrent module of ``torch.nn`` (see the module docstring).

    x: one sequence of input vectors: (T, input_size); or the module's own layout with a batch of
    one, (T, 1, input_size), or (1, T, input_size) when ``batch_first=True``. Any float dtype.
    ids (T,), tables: for embedding or one-hot inputs, the token ids and ``input_tables(module,
    embedding)``; x must still be the ids' vectors. h0: (L·D, H_out) initial hidden states, c0:
    (L·D, H) initial cells (LSTM only), zeros unless given; for a cell, (H,) or (1, H).

    Every trace is float32: weights and inputs of another float dtype are converted first, so the
    trace equals ``module.float()`` (exactly so for float16 and bfloat16 weights). Dropout between
    layers is not applied (the module as in ``eval()``).

    Raises ValueError naming the argument or parameter it cannot take: a module that is not one
    of the six, inputs of the wrong size, dtype or batch, states of the wrong size, c0 for a GRU
    or RNN, ids without tables, weights that are not floating point or not on the CPU.
    """
    engine, target = resolve(module)
    return trace_layers(engine, target, x, ids=ids, tables=tables, h0=h0, c0=c0)
