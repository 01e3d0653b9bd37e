"""A Keras recurrent model as torch modules: an optional ``Embedding``, a chain of recurrent
stages, and the ``Dense`` layers after them; traced the way Keras runs it.

``app.formats.keras`` reads a user's ``.keras``/``.h5`` file into a ``KerasNet`` (plain config +
state_dict, like our checkpoints: ``KerasNet(**config)`` then ``load_state_dict``). Each stage is
one torch module: ``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` where the Keras layer's equations are
exactly torch's, else a ``KerasRecurrent`` (``app.nets.keras_cells``). Consecutive Keras layers
of one configuration are one stage of several layers (``layers[l]`` of its trace is the l-th).

How Keras runs what torch has no flag for, and how the trace follows it:

* ``go_backwards=True``: the layer reads x_{T−1} … x_0 and, with ``return_sequences``, returns
  its outputs in that reading order, which is what the next layer reads. The trace puts the
  directions back in sequence order with ``reverse=True`` (step t read the state of step t+1);
  ``StageTrace.output`` keeps Keras's order.
* ``Bidirectional``: the backward layer's outputs are flipped back to sequence order and merged
  with the forward ones (``merge_mode`` concat, sum, ave or mul); without ``return_sequences`` it
  returns the forward layer's state after x_{T−1} and the backward layer's after x_0 (torch's h_n).
* ``return_sequences=False``: the layer returns its last state only (what the ``Dense`` reads).
* ``mask_zero=True`` (``Embedding``) or a ``Masking`` layer: Keras skips masked steps (every
  state is carried over them, in both directions), so the trace feeds only the unmasked steps
  (``KerasNetTrace.fed``); a masked step has no gates to show.
* ``Dropout``: identity at inference (not a stage at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from app.nets.activations import ACTIVATIONS
from app.nets.engines import trace_recurrent
from app.nets.keras_cells import KerasRecurrent
from app.nets.recurrent import RecurrentTrace

MERGE_MODES = ("concat", "sum", "ave", "mul")
HEAD_ACTIVATIONS = (*ACTIVATIONS, "softmax")


def recurrent_module(spec: dict[str, Any]) -> nn.Module:
    """The torch module of one stage from its plain spec: ``{"module": "LSTM" | "GRU" | "RNN" |
    "KerasRecurrent", ...sizes..., ["nonlinearity"], [Keras cell, activations, reset_after]}``."""
    kind = spec["module"]
    sizes: dict[str, Any] = {
        "input_size": int(spec["input_size"]),
        "hidden_size": int(spec["hidden_size"]),
        "num_layers": int(spec.get("num_layers", 1)),
        "bidirectional": bool(spec.get("bidirectional", False)),
        "bias": bool(spec.get("bias", True)),
    }
    if kind == "LSTM":
        return nn.LSTM(**sizes)
    if kind == "GRU":
        return nn.GRU(**sizes)
    if kind == "RNN":
        return nn.RNN(nonlinearity=str(spec["nonlinearity"]), **sizes)
    if kind == "KerasRecurrent":
        return KerasRecurrent(
            str(spec["cell"]),
            activation=str(spec["activation"]),
            recurrent_activation=str(spec.get("recurrent_activation", "sigmoid")),
            reset_after=bool(spec.get("reset_after", True)),
            **sizes,
        )
    raise ValueError(f"module: {kind!r}; a stage is an LSTM, GRU, RNN or KerasRecurrent")


def head_activation(name: str, x: Tensor) -> Tensor:
    """A Dense layer's activation (softmax over the last axis, or an elementwise one)."""
    if name == "softmax":
        return torch.softmax(x, dim=-1)
    return ACTIVATIONS[name](x)


@dataclass(eq=False)
class StageTrace:
    """One stage: its trace (``trace.layers[l][d]`` in sequence order over the fed steps; a
    ``go_backwards`` layer's direction has ``reverse=True``) and what its last Keras layer
    returns (``output``: (T, F) in Keras's order, or (F,) without ``return_sequences``)."""

    trace: RecurrentTrace[Any]
    output: Tensor
    layers: list[dict[str, Any]]  # the Keras layers of this stage, as described by the reader


@dataclass(eq=False)
class KerasNetTrace:
    """One sequence through a ``KerasNet``."""

    fed: Tensor  # (T_fed,) the input positions fed (all of them unless some were masked)
    inputs: Tensor  # (T_fed, I) what the first recurrent layer read
    stages: list[StageTrace]
    output: Tensor  # the model's output: the last stage's, through the Dense layers if any
    logits: Tensor | None  # the last Dense layer before its activation, if there is a Dense


class KerasNet(nn.Module):
    """Embedding (optional) → recurrent stages → Dense layers (optional), as a Keras model runs.

    Built from the plain config the reader writes (``app.formats.keras``):

    * ``embedding``: ``{"input_dim": V, "output_dim": E, "mask_zero": bool}`` or None;
    * ``masking``: ``{"mask_value": float}`` or None (a ``Masking`` layer before the stages);
    * ``stages``: one dict per stage: ``module`` (see ``recurrent_module``), ``go_backwards``,
      ``return_sequences``, ``merge_mode`` and ``layers`` (the Keras layers it stands for);
    * ``head``: one dict per Dense layer: ``in_features``, ``out_features``, ``bias``,
      ``activation`` (a name in ``HEAD_ACTIVATIONS``), ``name``.

    Parameter names: ``embedding.weight``, ``stages.{k}.<torch's names>``, ``head.{k}.weight``
    and ``.bias``. Raises ValueError for a config it cannot build (naming the field).
    """

    def __init__(
        self,
        stages: list[dict[str, Any]],
        embedding: dict[str, Any] | None = None,
        masking: dict[str, Any] | None = None,
        head: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        if not stages:
            raise ValueError("stages: a KerasNet needs at least one recurrent stage")
        self.config: dict[str, Any] = {
            "stages": stages,
            "embedding": embedding,
            "masking": masking,
            "head": head or [],
        }
        self.embedding = (
            nn.Embedding(int(embedding["input_dim"]), int(embedding["output_dim"])) if embedding else None
        )
        self.mask_zero = bool(embedding and embedding.get("mask_zero"))
        self.mask_value = None if masking is None else float(masking["mask_value"])
        self.stages = nn.ModuleList(recurrent_module(s["module"]) for s in stages)
        for k, s in enumerate(stages):
            if s.get("merge_mode", "concat") not in MERGE_MODES:
                raise ValueError(f"stages[{k}].merge_mode: {s.get('merge_mode')!r}; one of {MERGE_MODES}")
        self.head = nn.ModuleList(
            nn.Linear(int(d["in_features"]), int(d["out_features"]), bias=bool(d.get("bias", True)))
            for d in head or []
        )
        for k, d in enumerate(head or []):
            if d.get("activation", "linear") not in HEAD_ACTIVATIONS:
                raise ValueError(f"head[{k}].activation: {d.get('activation')!r} is not one this app runs")

    @property
    def input_size(self) -> int:
        """Features per step the first recurrent stage reads."""
        return int(self.config["stages"][0]["module"]["input_size"])

    @property
    def reads_tokens(self) -> bool:
        return self.embedding is not None

    @torch.inference_mode()
    def trace(self, x: Tensor | None = None, *, ids: Tensor | None = None) -> KerasNetTrace:
        """Trace one sequence: token ``ids`` (T,) through the embedding, or input vectors ``x``
        (T, input_size). Steps Keras masks are not fed (see the module docstring).

        Raises ValueError naming the argument: ids for a model without an embedding (or out of
        range), x of the wrong width, nothing left after masking.
        """
        if ids is not None:
            if self.embedding is None:
                raise ValueError("ids: this model has no Embedding; pass input vectors x [T, features]")
            rows = self.embedding.num_embeddings
            if ids.dim() != 1 or ids.numel() == 0 or int(ids.min()) < 0 or int(ids.max()) >= rows:
                raise ValueError(f"ids: need one or more token ids in 0..{rows - 1}")
            x = self.embedding(ids)
            keep = ids != 0 if self.mask_zero else torch.ones_like(ids, dtype=torch.bool)
        elif x is None:
            raise ValueError("x, ids: pass input vectors x or token ids")
        else:
            if x.dim() != 2 or x.shape[1] != self.input_size:
                raise ValueError(
                    f"x: inputs are {list(x.shape)}, but this model reads [T, {self.input_size}]"
                )
            x = x.detach().float()
            keep = torch.ones(x.shape[0], dtype=torch.bool)
        if self.mask_value is not None:
            keep &= (x != self.mask_value).any(dim=1)
        fed = keep.nonzero()[:, 0]
        if fed.numel() == 0:
            raise ValueError("x: every step is masked (Keras would not run the recurrent layers at all)")
        inputs = x[fed]
        sequence, stages = inputs, []
        for module, spec in zip(self.stages, self.config["stages"], strict=True):
            stage = self._trace_stage(module, spec, sequence)
            stages.append(stage)
            sequence = stage.output
        logits = None
        out = sequence
        for linear, spec in zip(self.head, self.config["head"], strict=True):
            logits = linear(out)
            out = head_activation(str(spec.get("activation", "linear")), logits)
        return KerasNetTrace(fed=fed, inputs=inputs, stages=stages, output=out, logits=logits)

    @staticmethod
    def _trace_stage(module: nn.Module, spec: dict[str, Any], x: Tensor) -> StageTrace:
        backwards = bool(spec.get("go_backwards", False))
        tr = trace_recurrent(module, x.flip(0) if backwards else x)
        output = tr.output  # (T, D·H) in the order the last layer read: Keras's order
        if backwards:  # back to sequence order, each step reading the state of step t+1
            tr = RecurrentTrace(
                kind=tr.kind,
                layers=[[d.flipped() for d in pair] for pair in tr.layers],
                output=tr.output.flip(0),
                h_n=tr.h_n,
                c_n=tr.c_n,
            )
        last = tr.layers[-1]
        if len(last) == 2:
            forward, backward = last[0].hidden, last[1].hidden  # (T, H) each, sequence order
            if not spec.get("return_sequences", True):
                forward, backward = forward[-1], backward[0]  # each direction's final state
            output = _merge(str(spec.get("merge_mode", "concat")), forward, backward)
        elif not spec.get("return_sequences", True):
            output = output[-1]
        return StageTrace(trace=tr, output=output, layers=list(spec.get("layers", [])))


def _merge(mode: str, forward: Tensor, backward: Tensor) -> Tensor:
    """Keras Bidirectional's merge of the two directions (backward already in sequence order)."""
    if mode == "concat":
        return torch.cat([forward, backward], dim=-1)
    if mode == "sum":
        return forward + backward
    if mode == "ave":
        return (forward + backward) / 2
    return forward * backward
