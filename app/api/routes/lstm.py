"""LSTM gate traces: every gate, cell and hidden state of a trained LSTM for any text."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.api import pricing
from app.api.cache import cached_json
from app.api.deps import RegistryDep, SettingsDep, check_length, require_model
from app.api.encoding import full_precision, round_sig
from app.api.errors import ApiError
from app.api.schemas import ERRORS, Strict, TokenProb
from app.checkpoints import ModelEntry
from app.config import Settings
from app.nets.lstm import GATES, LSTMTrace
from app.nets.user_lstm import UserLSTM
from app.tasks.vocab import Vocab

router = APIRouter(prefix="/api/lstm", tags=["lstm"])

LSTM_KINDS = ("char-lm", "lstm")
QUANTITIES = ("forget", "input", "candidate", "output", "cell", "hidden")


class TraceRequest(Strict):
    model: str = Field(examples=["shakespeare-char"], description="Name of an LSTM model.")
    text: str | None = Field(
        default=None, examples=["To be, or not to be: that is the question."], description="Input text."
    )
    inputs: list[list[float]] | None = Field(
        default=None,
        description="Instead of text: input vectors, [T][input_size] (for models that read numbers).",
    )
    unit: int | None = Field(
        default=None,
        ge=0,
        description="Unit whose pre-activations are broken down (equations panel).",
    )
    layer: int = Field(default=0, ge=0, description="Layer of the selected unit.")
    direction: int = Field(
        default=0, ge=0, le=1, description="Direction of the selected unit (1 = backward)."
    )
    full_precision: bool = Field(default=False, description="Skip display rounding (4 significant digits).")

    model_config = {
        "json_schema_extra": {
            "examples": [{"model": "shakespeare-char", "text": "To be, or not to be", "unit": 0}]
        },
        "extra": "forbid",
    }


class LayerTrace(BaseModel):
    layer: int
    direction: str = Field(description="forward or backward")
    forget: list[list[float]] = Field(description="f_t, [T][H], in [0, 1].")
    input: list[list[float]] = Field(description="i_t, [T][H], in [0, 1].")
    candidate: list[list[float]] = Field(description="g̃_t, [T][H], in [−1, 1].")
    output: list[list[float]] = Field(description="o_t, [T][H], in [0, 1].")
    cell: list[list[float]] = Field(description="c_t, [T][H], unbounded.")
    hidden: list[list[float]] = Field(description="h_t, [T][H], in [−1, 1].")


class GateTerms(BaseModel):
    input: list[float]
    forget: list[float]
    candidate: list[float]
    output: list[float]


class UnitDetail(BaseModel):
    layer: int
    direction: int
    unit: int
    pre: GateTerms = Field(description="Pre-activation W·[h_{t−1}, x_t] + b per gate, [T].")
    recurrent: GateTerms = Field(description="The W_hh·h_{t−1} part, [T].")
    from_input: GateTerms = Field(description="The W_ih·x_t part, [T].")
    bias: dict[str, float] = Field(description="b_ih + b_hh per gate.")
    h0: float
    c0: float


class TraceResponse(BaseModel):
    model: str
    input_kind: str = Field(description="How x_t was made: embedding, one-hot or vector.")
    tokens: list[str] = Field(description="The input as the model read it, one token per step.")
    unknown: list[int] = Field(description="Indices of tokens the vocabulary does not know.")
    hidden_size: int
    num_layers: int
    bidirectional: bool
    layers: list[LayerTrace]
    top_next: list[list[TokenProb]] | None = Field(description="Top-5 next tokens after each step.")
    detail: UnitDetail | None = Field(description="Pre-activation breakdown of the selected unit.")


def _unit_detail(lstm: torch.nn.LSTM, tr: LSTMTrace, layer: int, direction: int, unit: int) -> dict[str, Any]:
    """The selected unit's pre-activations split into recurrent, input and bias parts (float32)."""
    d = tr.layers[layer][direction]
    size = lstm.hidden_size
    rows = torch.arange(4) * size + unit  # i, f, g, o rows of this unit
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    bias = torch.zeros(4)
    if lstm.bias:
        bias = getattr(lstm, "bias_ih" + suffix)[rows] + getattr(lstm, "bias_hh" + suffix)[rows]
    recurrent, input_and_bias = d.unit_terms(unit)  # (T, 4) each
    return {
        "pre": {g: recurrent[:, k] + input_and_bias[:, k] for k, g in enumerate(GATES)},
        "recurrent": {g: recurrent[:, k] for k, g in enumerate(GATES)},
        "from_input": {g: input_and_bias[:, k] - bias[k] for k, g in enumerate(GATES)},
        "bias": {g: float(bias[k]) for k, g in enumerate(GATES)},
        "h0": float(d.h0[unit]),
        "c0": float(d.c0[unit]),
    }


def serialize_trace(
    lstm: torch.nn.LSTM,
    tr: LSTMTrace,
    digits: int | None,
    unit: int | None = None,
    layer: int = 0,
    direction: int = 0,
) -> dict[str, Any]:
    """The ``layers`` and ``detail`` parts of a trace response (shared with other LSTM routes)."""

    def num(x: Any) -> np.ndarray:
        return full_precision(x) if digits is None else round_sig(x, digits)

    dirs = ("forward", "backward")
    pairs = [(li, di, d) for li, pair in enumerate(tr.layers) for di, d in enumerate(pair)]
    # One rounding pass over every quantity of every layer: (L·D, 6, T, H).
    stacked = num(torch.stack([torch.stack([d.quantities()[q] for q in QUANTITIES]) for _, _, d in pairs]))
    layers = [
        {"layer": li, "direction": dirs[di], **{q: stacked[k, j] for j, q in enumerate(QUANTITIES)}}
        for k, (li, di, _) in enumerate(pairs)
    ]
    detail = None
    check_selection(lstm, unit, layer, direction)
    if unit is not None:
        raw = _unit_detail(lstm, tr, layer, direction, unit)
        detail = {
            "layer": layer,
            "direction": direction,
            "unit": unit,
            **{
                part: {g: num(v) for g, v in raw[part].items()} for part in ("pre", "recurrent", "from_input")
            },
            "bias": raw["bias"],
            "h0": raw["h0"],
            "c0": raw["c0"],
        }
    return {"layers": layers, "detail": detail}


def check_selection(lstm: torch.nn.LSTM, unit: int | None, layer: int, direction: int) -> None:
    """422 (``not-in-model``) for a unit, layer or direction this model does not have."""
    layers = lstm.num_layers
    if layer >= layers:
        raise ApiError(
            422,
            f"layer is {layer}, but this model has {layers} layer(s) (layers 0 to {layers - 1}).",
            "layer",
            code="not-in-model",
            params={"got": layer, "limit": layers - 1},
        )
    if direction >= (2 if lstm.bidirectional else 1):
        raise ApiError(
            422,
            "direction is 1 (backward), but this model is not bidirectional.",
            "direction",
            code="not-in-model",
            params={"got": direction, "limit": 0},
        )
    if unit is not None and unit >= lstm.hidden_size:
        size = lstm.hidden_size
        raise ApiError(
            422,
            f"unit is {unit}, but the hidden size is {size} (units 0 to {size - 1}).",
            "unit",
            code="not-in-model",
            params={"got": unit, "limit": size - 1},
        )


def charge_trace(net: Any, steps: int, body: TraceRequest, settings: Settings, field: str) -> None:
    """Price the trace of ``steps`` steps before it runs (``app.api.pricing``); 422 over budget."""
    rnn = pricing.Recurrent.of(net.lstm)
    head = getattr(net, "head", None)
    outputs = head.out_features if head is not None else 0

    def price_of(t: int) -> pricing.Price:
        return pricing.trace(rnn, t, outputs, body.unit is not None)

    pricing.charge_steps(price_of, steps, settings, field, settings.max_trace_chars, body.full_precision)


def top_k(
    logits: torch.Tensor, vocab: Vocab | None, k: int, digits: int | None
) -> list[list[dict[str, Any]]]:
    """Top-k tokens (or "class j" without a vocabulary) and probabilities after each step; logits (T, V)."""
    probs = torch.softmax(logits.float(), dim=-1)
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    vals = full_precision(values) if digits is None else round_sig(values, digits)
    tokens = vocab.tokens if vocab is not None else [f"class {j}" for j in range(probs.shape[-1])]
    return [
        [{"token": tokens[i], "prob": float(p)} for i, p in zip(row_i, row_p, strict=True)]
        for row_i, row_p in zip(indices.tolist(), vals.tolist(), strict=True)
    ]


def _encode_inputs(
    body: TraceRequest, net: Any, vocab: Vocab | None, settings: Settings
) -> tuple[list[str], list[int], Any]:
    """(tokens, unknown, trace-and-logits) for a text or for numeric input vectors, priced first."""
    limit = settings.max_trace_chars
    if body.text is None and body.inputs is None:
        raise ApiError(
            422, "text is required (or send inputs, a list of input vectors).", "text", code="missing"
        )
    if body.text is not None and body.inputs is not None:
        raise ApiError(422, "Send text or inputs, not both.", "inputs", code="invalid-value")
    check_selection(net.lstm, body.unit, body.layer, body.direction)
    if body.inputs is not None:
        rows = body.inputs
        check_length(rows, limit, "inputs", unit="steps")
        size = net.lstm.input_size
        bad = next((t for t, row in enumerate(rows) if len(row) != size), None)
        if bad is not None:
            raise ApiError(
                422,
                f"inputs: row {bad} has {len(rows[bad])} numbers, but this LSTM's input size is {size}.",
                "inputs",
                code="invalid-value",
                params={"row": bad, "length": len(rows[bad]), "limit": size},
            )
        trace_inputs = getattr(net, "trace_inputs", None)
        if trace_inputs is None:
            raise ApiError(422, "inputs: this model reads text; send text instead.", "inputs")
        charge_trace(net, len(rows), body, settings, "inputs")
        x = torch.tensor(rows, dtype=torch.float32)
        if not torch.isfinite(x).all():
            raise ApiError(422, "inputs: every number must be finite (no NaN or infinity).", "inputs")
        return [str(t) for t in range(len(rows))], [], trace_inputs(x)
    text = body.text or ""
    check_length(text, limit, "text")
    if vocab is None or not len(vocab) or not getattr(net, "reads_tokens", True):
        raise ApiError(
            422,
            "text: this model reads vectors, not text; send numeric inputs or upload a vocabulary.",
            "text",
        )
    enc = vocab.encode(text)
    if not enc.ids:
        raise ApiError(422, "text has no tokens (only spaces?).", "text", code="invalid-value")
    charge_trace(net, len(enc.ids), body, settings, "text")
    ids = torch.tensor(enc.ids)
    if isinstance(net, UserLSTM):
        embed = net.embed
        if embed is not None and embed.num_embeddings > len(enc.ids):
            # A lookup table of layer 0's input projection costs V·I·4H, the direct projection
            # T·I·4H: use the table only when the vocabulary is smaller than the text.
            return enc.tokens, enc.unknown, net.trace_inputs(net.inputs_for(ids, enc.unknown))
        return enc.tokens, enc.unknown, net.trace(ids, enc.unknown)
    return enc.tokens, enc.unknown, net.trace(ids)


def _input_kind(net: Any, vector_input: bool) -> str:
    if vector_input:
        return "vector"
    if isinstance(net, UserLSTM) and net.one_hot:
        return "one-hot"
    return "embedding"


@router.post("/trace", response_model=TraceResponse, responses=ERRORS)
async def trace(
    body: TraceRequest, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    """Trace text (or input vectors) through an LSTM: gates f, i, g̃, o, cell c and hidden h per step."""
    # The model lookup runs in the threadpool with the trace: an uploaded model may load from disk.
    return await cached_json(
        request,
        "lstm.trace",
        body,
        lambda: _trace(body, require_model(registry, body.model, LSTM_KINDS), settings),
    )


def _trace(body: TraceRequest, entry: ModelEntry, settings: Settings) -> dict[str, Any]:
    vocab: Vocab | None = entry.extras.get("vocab")
    if "vocab" not in entry.extras:
        raw = entry.checkpoint.get("vocab") or {}
        vocab = Vocab.from_dict(raw) if raw.get("tokens") else None
        entry.extras["vocab"] = vocab
    net: Any = entry.net
    tokens, unknown, (tr, logits) = _encode_inputs(body, net, vocab, settings)
    digits = None if body.full_precision else settings.float_digits
    top_next = None
    if logits is not None:
        labels = vocab if vocab is not None and len(vocab) == logits.shape[-1] else None
        top_next = top_k(logits, labels, 5, digits)
    return {
        "model": entry.name,
        "input_kind": _input_kind(net, body.inputs is not None),
        "tokens": tokens,
        "unknown": unknown,
        "hidden_size": net.lstm.hidden_size,
        "num_layers": net.lstm.num_layers,
        "bidirectional": net.lstm.bidirectional,
        **serialize_trace(net.lstm, tr, digits, body.unit, body.layer, body.direction),
        "top_next": top_next,
    }
