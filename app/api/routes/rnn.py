"""Vanilla RNN traces: both pre-activation parts, the hidden state and the output at every step."""

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
from app.api.limits import MAX_TOKEN_CHARS
from app.api.schemas import ERRORS, Strict
from app.checkpoints import CheckpointError, ModelEntry
from app.tasks.vocab import Vocab

router = APIRouter(prefix="/api/rnn", tags=["rnn"])

RNN_KINDS = ("recall-rnn",)


class TraceRequest(Strict):
    model: str = Field(examples=["recall-rnn"], description="Name of a vanilla RNN model.")
    text: str | None = Field(
        default=None, examples=["C4071?"], description="Input text, one character per step."
    )
    tokens: list[str] | None = Field(
        default=None, description="Or the input as a list of tokens (give text or tokens, not both)."
    )
    delay: int | None = Field(
        default=None,
        ge=0,
        description="Use the weights trained at this delay T (recall models); default: the main weights.",
    )
    unit: int | None = Field(
        default=None, ge=0, description="Unit whose weight rows are returned (equations panel)."
    )
    full_precision: bool = Field(default=False, description="Skip display rounding (4 significant digits).")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"model": "recall-rnn", "text": "C4071?", "unit": 0},
                {"model": "recall-rnn", "tokens": ["E", "1", "2", "?"], "delay": 20},
            ]
        },
        "extra": "forbid",
        "strict": True,  # JSON types as declared: 0 is not a bool, "5" is not a delay
    }


class UnitWeights(BaseModel):
    unit: int
    w_hh: list[float] = Field(description="Row j of W_hh: the weights on h_{t−1}, [H].")
    w_ih: list[float] = Field(description="Row j of W_ih: the weights on the one-hot x_t, [V].")
    b_ih: float
    b_hh: float


class Head(BaseModel):
    weight: list[list[float]] = Field(description="V in y_t = softmax(V·h_t + c), [C][H].")
    bias: list[float] = Field(description="c, [C].")


class TraceResponse(BaseModel):
    model: str
    delay: int | None = Field(description="Delay T the weights were trained at (null: main weights).")
    delays: list[int] = Field(description="Delays this model has trained weights for.")
    tokens: list[str] = Field(description="The input as the model read it, one token per step.")
    unknown: list[int] = Field(description="Indices of tokens the vocabulary does not know.")
    ids: list[int] = Field(description="Vocabulary index of each step's input (the 1 of the one-hot x_t).")
    vocab: list[str] = Field(description="The input vocabulary: position k of x_t is token k.")
    classes: list[str] = Field(description="The output labels: entry k of y_t is class k.")
    hidden_size: int
    nonlinearity: str = Field(description="f in h_t = f(…): tanh or relu.")
    from_input: list[list[float]] = Field(description="W_ih·x_t + b_ih, [T][H].")
    recurrent: list[list[float]] = Field(description="W_hh·h_{t−1} + b_hh, [T][H].")
    hidden: list[list[float]] = Field(description="h_t = f(from_input + recurrent), [T][H].")
    without_memory: list[list[float]] = Field(
        description="f(W_ih·x_t + b_ih + b_hh): the same units as a plain layer, h_{t−1} = 0, [T][H]."
    )
    logits: list[list[float]] = Field(description="V·h_t + c, [T][C].")
    probs: list[list[float]] = Field(description="y_t = softmax(V·h_t + c), [T][C]; rows sum to 1.")
    head: Head
    detail: UnitWeights | None = Field(description="Weight rows of the selected unit.")


def variant_delays(entry: ModelEntry) -> list[int]:
    """The delays a recall model holds trained weights for, ascending."""
    return sorted(int(k) for k in entry.variants if k.isdigit())


def net_for_delay(entry: ModelEntry, delay: int | None, weights: str = "state_dict") -> Any:
    """The model's net, or its variant trained at ``delay``; 422 naming the delays it has."""
    if delay is None:
        return entry.net
    delays = variant_delays(entry)
    if delay not in delays:
        have = ", ".join(map(str, delays)) if delays else "none (it has one set of weights)"
        raise ApiError(
            422,
            f"delay is {delay}, but {entry.name} was trained at delays T = {have}.",
            "delay",
            code="not-in-model",
            params={"got": delay, "choices": delays},
        )
    try:
        return entry.variant_net(str(delay), weights)
    except KeyError as exc:
        raise ApiError(
            409,
            f"Model {entry.name!r} has no {weights} for delay {delay}.",
            "delay",
            code="model-unavailable",
            params={"model": entry.name, "delay": delay},
        ) from exc
    except CheckpointError as exc:
        reason = str(exc).rstrip(".")
        raise ApiError(
            409,
            f"Model {entry.name!r}, delay {delay}, is unavailable: {reason}.",
            "delay",
            code="model-unavailable",
            params={"model": entry.name, "delay": delay, "reason": reason},
        ) from exc


def encode_input(vocab: Vocab, text: str | None, tokens: list[str] | None, limit: int) -> Any:
    """Encode ``text`` or ``tokens`` (exactly one), after the length limits."""
    if (text is None) == (tokens is None):
        raise ApiError(
            422,
            "Give the input as text or as tokens (exactly one of them).",
            "text",
            code="missing" if text is None else "invalid-value",
        )
    if text is not None:
        check_length(text, limit, "text")
        return vocab.encode(text)
    assert tokens is not None
    items: list[object] = list(tokens)
    check_length(items, limit, "tokens", unit="tokens")
    for i, tok in enumerate(tokens):
        if not 1 <= len(tok) <= MAX_TOKEN_CHARS:
            raise ApiError(
                422,
                f"tokens[{i}] is {len(tok)} characters long, but a token has 1 to {MAX_TOKEN_CHARS}.",
                "tokens",
                code="empty" if not tok else "too-long",
                params={"index": i, "length": len(tok), "limit": MAX_TOKEN_CHARS},
            )
    return vocab.encode(tokens)


@router.post("/trace", response_model=TraceResponse, responses=ERRORS)
async def trace(
    body: TraceRequest, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    """Trace input through a vanilla RNN: W_ih·x_t + b_ih, W_hh·h_{t−1} + b_hh, h_t and y_t per step."""
    return await cached_json(request, "rnn.trace", body, lambda: _trace(body, registry, settings))


def _trace(body: TraceRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    entry = require_model(registry, body.model, RNN_KINDS)
    vocab: Vocab = entry.extras.setdefault("vocab", Vocab.from_dict(entry.checkpoint["vocab"]))
    enc = encode_input(vocab, body.text, body.tokens, settings.max_trace_chars)
    net = net_for_delay(entry, body.delay)
    rnn = net.rnn
    if body.unit is not None and body.unit >= rnn.hidden_size:
        size = rnn.hidden_size
        raise ApiError(
            422,
            f"unit is {body.unit}, but the hidden size is {size} (units 0 to {size - 1}).",
            "unit",
            code="not-in-model",
            params={"got": body.unit, "limit": size - 1},
        )
    field = "text" if body.text is not None else "tokens"
    outputs = net.head.out_features
    pricing.charge_steps(
        lambda t: pricing.rnn_trace(net, t, len(vocab), outputs),
        len(enc.ids),
        settings,
        field,
        settings.max_trace_chars,
        body.full_precision,
    )
    ids = torch.tensor(enc.ids)
    tr, logits = net.trace(ids)
    activation = torch.tanh if rnn.nonlinearity == "tanh" else torch.relu
    d = tr.layers[0][0]
    digits = None if body.full_precision else settings.float_digits

    def num(x: Any) -> np.ndarray:
        return full_precision(x) if digits is None else round_sig(x, digits)

    detail = None
    if body.unit is not None:
        j = body.unit
        detail = {
            "unit": j,
            "w_hh": num(rnn.weight_hh_l0[j]),
            "w_ih": num(rnn.weight_ih_l0[j]),
            "b_ih": float(num(rnn.bias_ih_l0[j : j + 1])[0]),
            "b_hh": float(num(rnn.bias_hh_l0[j : j + 1])[0]),
        }
    classes = entry.checkpoint.get("classes") or [str(k) for k in range(logits.shape[1])]
    content = {
        "model": entry.name,
        "delay": body.delay,
        "delays": variant_delays(entry),
        "tokens": enc.tokens,
        "unknown": enc.unknown,
        "ids": enc.ids,
        "vocab": list(vocab.tokens),
        "classes": list(classes),
        "hidden_size": rnn.hidden_size,
        "nonlinearity": rnn.nonlinearity,
        "from_input": num(d.from_input),
        "recurrent": num(d.recurrent),
        "hidden": num(d.hidden),
        "without_memory": num(activation(d.from_input + rnn.bias_hh_l0)),
        "logits": num(logits),
        "probs": num(torch.softmax(logits, dim=-1)),
        "head": {"weight": num(net.head.weight), "bias": num(net.head.bias)},
        "detail": detail,
    }
    return content
