"""Bidirectional RNN: fill in a blanked-out character, with the forward and backward state streams.

``POST /api/birnn/cloze`` reads a text with one ``_`` through a bidirectional cloze LSTM and
returns both directions' gates and states at every character, the concatenation [→h_b ; ←h_b]
the output layer reads at the blank, how each half contributes to each candidate's score, and the
ranked predictions of the bidirectional model and of the one-direction models (``cloze-fwd``,
``cloze-bwd`` unless others are named) for the same text.
"""

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
from app.checkpoints import ModelEntry, Registry
from app.nets.cloze import ClozeLSTM, ClozeTrace
from app.nets.lstm import DirectionTrace
from app.tasks.cloze import BlankError, ClozeInput, encode_cloze
from app.tasks.vocab import Vocab

router = APIRouter(prefix="/api/birnn", tags=["birnn"])

CLOZE_KINDS = ("cloze",)
COMPANIONS = {"forward": "cloze-fwd", "backward": "cloze-bwd"}  # used when loaded and not named
TOP_K = 10
READS = {"both": "both directions", "forward": "forward only", "backward": "backward only"}
EXAMPLE = "Some are born gr_at, some achieve greatness"


class ClozeRequest(Strict):
    model: str = Field(examples=["cloze-bi"], description="Name of a bidirectional cloze model.")
    text: str = Field(
        examples=[EXAMPLE],
        description="Text with exactly one _ marking the character to fill in.",
    )
    forward_model: str | None = Field(
        default=None,
        description="Forward-only cloze model for the left-side prediction (default: cloze-fwd if loaded).",
    )
    backward_model: str | None = Field(
        default=None,
        description="Backward-only cloze model for the right-side prediction (default: cloze-bwd).",
    )
    full_precision: bool = Field(default=False, description="Skip display rounding (4 significant digits).")

    model_config = {
        "json_schema_extra": {"examples": [{"model": "cloze-bi", "text": EXAMPLE}]},
        "extra": "forbid",
    }


class Gates(BaseModel):
    input: list[list[float]] = Field(description="i_t, [T][H], in [0, 1].")
    forget: list[list[float]] = Field(description="f_t, [T][H], in [0, 1].")
    candidate: list[list[float]] = Field(description="g̃_t, [T][H], in [−1, 1].")
    output: list[list[float]] = Field(description="o_t, [T][H], in [0, 1].")


class DirectionStates(BaseModel):
    hidden: list[list[float]] = Field(description="h_t, [T][H], in text order (t = character t).")
    cell: list[list[float]] = Field(description="c_t, [T][H].")
    gates: Gates


class HeadTerm(BaseModel):
    token: str
    logit: float = Field(description="Score of this character: forward + backward + bias.")
    forward: float = Field(description="W[v, :H]·→h_b, the forward half's part of the score.")
    backward: float = Field(description="W[v, H:]·←h_b, the backward half's part of the score.")
    bias: float = Field(description="b_v.")


class Predictions(BaseModel):
    bi: list[TokenProb] = Field(description="Bidirectional model, most probable first.")
    fwd: list[TokenProb] | None = Field(description="Forward-only model (left context), if loaded.")
    bwd: list[TokenProb] | None = Field(description="Backward-only model (right context), if loaded.")


class ModelNames(BaseModel):
    bi: str
    fwd: str | None
    bwd: str | None


class ClozeResponse(BaseModel):
    model: str
    tokens: list[str] = Field(description="The input as the model read it, one character per step.")
    unknown: list[int] = Field(description="Indices of characters the vocabulary does not know.")
    blank_index: int = Field(description="Index of the blank (the typed _) in tokens.")
    hidden_size: int = Field(description="H, units per direction.")
    forward: DirectionStates = Field(description="→ direction: step t has read characters 0 … t.")
    backward: DirectionStates = Field(description="← direction: step t has read characters T−1 … t.")
    concat: list[float] = Field(description="[→h_b ; ←h_b], 2H values: what the output layer reads.")
    head: list[HeadTerm] = Field(description="The bidirectional model's top candidates, score split by half.")
    predictions: Predictions
    models: ModelNames = Field(description="The models behind each prediction list.")
    notes: list[str] = Field(description="Why a prediction list is missing, if one is.")


def _cloze_net(entry: ModelEntry) -> ClozeLSTM:
    net = entry.net
    assert isinstance(net, ClozeLSTM)
    return net


def _vocab(entry: ModelEntry) -> Vocab:
    vocab: Vocab = entry.extras.setdefault("vocab", Vocab.from_dict(entry.checkpoint["vocab"]))
    return vocab


def _companion(
    registry: Registry, name: str | None, direction: str, vocab: Vocab, field: str, notes: list[str]
) -> ModelEntry | None:
    """The one-direction model for ``direction``: the named one (4xx if unfit) or the default if fit."""
    explicit = name is not None
    name = name if explicit else COMPANIONS[direction]
    assert name is not None
    if not explicit:
        entry = registry.get(name)
        if entry is None or not entry.available or entry.kind not in CLOZE_KINDS:
            reason = "is not loaded" if entry is None else f"is unavailable: {entry.reason}"
            notes.append(f"{direction}-only prediction missing: model {name!r} {reason}")
            return None
    else:
        try:
            entry = require_model(registry, name, CLOZE_KINDS)
        except ApiError as exc:
            exc.field = exc.params["field"] = field
            raise
    problem = None
    if _cloze_net(entry).direction != direction:
        problem = f"model {name!r} reads {READS[_cloze_net(entry).direction]}, not {direction} only"
    elif _vocab(entry).tokens != vocab.tokens:
        problem = f"model {name!r} has a different vocabulary from the bidirectional model"
    if problem is None:
        return entry
    if explicit:
        raise ApiError(422, f"{field}: {problem}.", field, code="wrong-model-kind", params={"model": name})
    notes.append(f"{direction}-only prediction missing: {problem}")
    return None


def _short(x: float) -> float:
    """A float32 value as the float its shortest decimal form reads (0.6456, not 0.6456000208854675)."""
    return float(str(np.float32(x)))


def _top(logits: torch.Tensor, vocab: Vocab, digits: int | None) -> tuple[list[dict[str, Any]], list[int]]:
    """The TOP_K most probable characters (token, prob) and their ids."""
    probs = torch.softmax(logits.float(), dim=-1)
    values, indices = probs.topk(min(TOP_K, probs.shape[-1]))
    vals = full_precision(values) if digits is None else round_sig(values, digits)
    ids = indices.tolist()
    return [
        {"token": vocab.tokens[i], "prob": _short(p)} for i, p in zip(ids, vals.tolist(), strict=True)
    ], ids


def _states(d: DirectionTrace | None, num: Any) -> dict[str, Any]:
    assert d is not None
    return {
        "hidden": num(d.hidden),
        "cell": num(d.cell),
        "gates": {
            "input": num(d.input),
            "forget": num(d.forget),
            "candidate": num(d.candidate),
            "output": num(d.output),
        },
    }


@router.post("/cloze", response_model=ClozeResponse, responses=ERRORS)
async def cloze(
    body: ClozeRequest, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    """Fill in the blank (_) from both sides: both state streams, [→h ; ←h] and three ranked lists."""
    return await cached_json(request, "birnn.cloze", body, lambda: _cloze(body, registry, settings))


def _cloze(body: ClozeRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    entry = require_model(registry, body.model, CLOZE_KINDS)
    net = _cloze_net(entry)
    if net.direction != "both":
        choices = (
            ", ".join(n for n in registry.names(CLOZE_KINDS) if _is_bi(registry, n)) or "none are loaded"
        )
        raise ApiError(
            422,
            f"Model {body.model!r} reads {READS[net.direction]}; "
            f"this route needs a bidirectional model: {choices}.",
            "model",
            code="wrong-model-kind",
            params={"model": body.model, "choices": choices},
        )
    check_length(body.text, settings.max_cloze_chars, "text")
    vocab = _vocab(entry)
    try:
        enc: ClozeInput = encode_cloze(vocab, body.text)
    except BlankError as exc:
        raise ApiError(422, f"text: {str(exc).rstrip('.')}.", "text", code="invalid-value") from exc
    notes: list[str] = []
    fwd_entry = _companion(registry, body.forward_model, "forward", vocab, "forward_model", notes)
    bwd_entry = _companion(registry, body.backward_model, "backward", vocab, "backward_model", notes)
    nets = [net] + [_cloze_net(e) for e in (fwd_entry, bwd_entry) if e is not None]
    pricing.charge_steps(
        lambda t: pricing.cloze(nets, t),
        len(enc.ids),
        settings,
        "text",
        settings.max_cloze_chars,
        body.full_precision,
    )
    digits = None if body.full_precision else settings.float_digits

    def num(x: Any) -> np.ndarray:
        return full_precision(x) if digits is None else round_sig(x, digits)

    ids = torch.tensor(enc.ids)
    tr: ClozeTrace = net.trace(ids, enc.blank_index)
    bi_top, bi_ids = _top(tr.logits, vocab, digits)
    parts = net.head_parts(tr.features)
    index = torch.tensor(bi_ids)
    head = [
        {
            "token": vocab.tokens[v],
            "logit": _short(lg),
            "forward": _short(f),
            "backward": _short(b),
            "bias": _short(c),
        }
        for v, lg, f, b, c in zip(
            bi_ids,
            num(tr.logits[index]).tolist(),
            num(parts["forward"][index]).tolist(),
            num(parts["backward"][index]).tolist(),
            num(parts["bias"][index]).tolist(),
            strict=True,
        )
    ]
    predictions: dict[str, Any] = {"bi": bi_top, "fwd": None, "bwd": None}
    for key, companion in (("fwd", fwd_entry), ("bwd", bwd_entry)):
        if companion is not None:
            predictions[key] = _top(_cloze_net(companion).trace(ids, enc.blank_index).logits, vocab, digits)[
                0
            ]
    content = {
        "model": entry.name,
        "tokens": enc.tokens,
        "unknown": enc.unknown,
        "blank_index": enc.blank_index,
        "hidden_size": net.hidden_size,
        "forward": _states(tr.forward, num),
        "backward": _states(tr.backward, num),
        "concat": num(tr.features),
        "head": head,
        "predictions": predictions,
        "models": {
            "bi": entry.name,
            "fwd": fwd_entry.name if fwd_entry else None,
            "bwd": bwd_entry.name if bwd_entry else None,
        },
        "notes": notes,
    }
    return content


def _is_bi(registry: Registry, name: str) -> bool:
    entry = registry.get(name)
    return entry is not None and isinstance(entry.net, ClozeLSTM) and entry.net.direction == "both"
