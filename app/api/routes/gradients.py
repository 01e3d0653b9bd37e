"""The vanishing-gradient lab: how far back the error of a delayed-recall answer reaches.

For one model trained at delay T and one input sequence (symbol, digits, "?"), the loss is the
cross-entropy of the answer at "?" against the first symbol, and autograd gives ∂L/∂h_t at every
step (and ∂L/∂c_t for LSTMs). Norms are computed in float64 and rounded to 4 significant digits
without a float32 cast, so values far below 1e−38 are kept.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.api import pricing
from app.api.cache import cached_json
from app.api.deps import RegistryDep, SettingsDep, check_length, require_model
from app.api.errors import ApiError
from app.api.routes.rnn import net_for_delay
from app.api.schemas import ERRORS, Strict
from app.tasks import recall
from app.tasks.vocab import Vocab

router = APIRouter(prefix="/api/gradients", tags=["gradients"])

RECALL_KINDS = ("recall-rnn", "recall-lstm")
WEIGHTS = {"trained": "state_dict", "initial": "initial_state_dict"}


class GradientRequest(Strict):
    model: str = Field(examples=["recall-rnn"], description="Name of a delayed-recall model.")
    delay: int = Field(ge=0, examples=[20], description="Use the weights trained at this delay T.")
    sequence: str = Field(
        examples=["C48213370945126680339?"],
        description="A symbol A–H, distractor digits 0–9, then '?'; the loss is the answer at '?'.",
    )
    weights: Literal["trained", "initial"] = Field(
        default="trained", description="The weights after training at T, or the ones training started from."
    )
    full_precision: bool = Field(default=False, description="Skip display rounding (4 significant digits).")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"model": "recall-rnn", "delay": 20, "sequence": "C48213370945126680339?"},
                {"model": "recall-lstm-chrono", "delay": 5, "sequence": "F01234?", "weights": "initial"},
            ]
        },
        "extra": "forbid",
        "strict": True,  # JSON types as declared: 0 is not a bool, "5" is not a delay
    }


class GradientResponse(BaseModel):
    model: str
    cell: Literal["rnn", "lstm"]
    delay: int
    weights: Literal["trained", "initial"]
    tokens: list[str] = Field(description="The sequence, one token per step.")
    target: str = Field(description="The symbol to recall (the first one).")
    classes: list[str] = Field(description="Output labels, the order of probs.")
    probs: list[float] = Field(description="The answer's distribution at the last step, [C].")
    loss: float = Field(description="Cross-entropy L of the answer (nats).")
    accuracy: float | None = Field(description="Held-out accuracy measured for these weights, if stored.")
    grad_norm_h: list[float] = Field(description="‖∂L/∂h_t‖ per step, [T].")
    grad_norm_c: list[float] | None = Field(description="‖∂L/∂c_t‖ per step, [T] (LSTM only).")
    forget_product: list[float] | None = Field(
        description="Mean over units of ∏ f_k for k = t+1 … T−1: the cell path to the loss, [T] (LSTM only)."
    )
    saturation: list[float] = Field(description="Share of units with |h_t| > 0.95 per step, [T].")


def _round(values: Any, digits: int | None) -> list[float]:
    """float64 values rounded to ``digits`` significant digits (tiny values stay tiny, never 0)."""
    out = [float(v) for v in values]
    return out if digits is None else [float(f"{v:.{digits}g}") for v in out]


@router.post("", response_model=GradientResponse, responses=ERRORS)
async def gradients(
    body: GradientRequest, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    """‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖, ∏f for LSTMs) and tanh saturation at every step, by autograd."""
    return await cached_json(
        request, "gradients.gradients", body, lambda: _gradients(body, registry, settings)
    )


def _gradients(body: GradientRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    entry = require_model(registry, body.model, RECALL_KINDS)
    check_length(body.sequence, settings.max_gradient_chars, "sequence")
    problem = recall.check(body.sequence)
    if problem:
        short = len(body.sequence) < 2  # the schema's minLength: a symbol and the "?" at least
        code, params = ("too-short", {"limit": 2}) if short else ("invalid-value", {})
        raise ApiError(422, f"sequence: {problem}.", "sequence", code=code, params=params)
    net = net_for_delay(entry, body.delay, WEIGHTS[body.weights])
    vocab: Vocab = entry.extras.setdefault("vocab", Vocab.from_dict(entry.checkpoint["vocab"]))
    classes = list(entry.checkpoint.get("classes") or recall.SYMBOLS)
    enc = vocab.encode(body.sequence)
    if enc.unknown or body.sequence[0] not in classes:
        raise ApiError(
            422,
            f"sequence: {entry.name} does not know every character of it.",
            "sequence",
            code="invalid-value",
        )
    pricing.charge(pricing.gradients(net, len(enc.ids)), settings, "sequence")
    flow = net.gradient_flow(torch.tensor(enc.ids), classes.index(body.sequence[0]))
    digits = None if body.full_precision else settings.float_digits
    accuracy = None
    if body.weights == "trained":
        accuracy = entry.variants[str(body.delay)].get("metrics", {}).get("accuracy")
    content = {
        "model": entry.name,
        "cell": "lstm" if entry.kind == "recall-lstm" else "rnn",
        "delay": body.delay,
        "weights": body.weights,
        "tokens": enc.tokens,
        "target": body.sequence[0],
        "classes": classes,
        "probs": _round(flow.probs, digits),
        "loss": _round([flow.loss], digits)[0],
        "accuracy": accuracy,
        "grad_norm_h": _round(flow.grad_hidden, digits),
        "grad_norm_c": None if flow.grad_cell is None else _round(flow.grad_cell, digits),
        "forget_product": None if flow.forget_product is None else _round(flow.forget_product, digits),
        "saturation": _round(flow.saturation, digits),
    }
    return content
