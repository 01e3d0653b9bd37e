"""Teacher forcing vs free running: the same decoder over the same source, two ways of feeding it.

For each output step i the teacher-forced lane reads the gold y_{i−1} and the free-running lane
reads its own previous output; both are ``net.step`` calls (``app.nets.forcing``). ``inject``
writes a chosen token at one step of the free run, to watch one early mistake propagate.
"""

from __future__ import annotations

from typing import Any, Literal

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
from app.api.routes.lstm import top_k
from app.api.routes.seq2seq import SEQ2SEQ_KINDS, vocabs
from app.api.schemas import ERRORS, Strict, TokenProb
from app.checkpoints import ModelEntry
from app.nets.forcing import Unrolled, free_running, gold_nll, teacher_forced
from app.nets.seq2seq import Seq2Seq
from app.tasks.vocab import Vocab

router = APIRouter(prefix="/api/seq2seq", tags=["teacher forcing"])

NOT_WRITABLE = ("pad", "bos", "unk")  # tokens a decoder is never trained to write


class Inject(Strict):
    step: int = Field(
        ge=0, description="Step of the free-running lane (0-based: step 0 writes y_1, step i reads y_{i})."
    )
    token: str = Field(description="The token written at that step instead of the model's own output.")


class ForcingRequest(Strict):
    model: str = Field(examples=["copy-tf-1.0"], description="Name of a seq2seq model.")
    text: str = Field(examples=["abcefgh"], description="Source text (characters).")
    target: str | None = Field(
        default=None,
        description="The label (gold output). Empty or omitted for a copy model: the copy of text.",
    )
    inject: Inject | None = Field(default=None, description="Force one token at one free-running step.")
    full_precision: bool = Field(default=False, description="Skip display rounding (4 significant digits).")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"model": "copy-tf-1.0", "text": "abcefgh", "inject": {"step": 2, "token": "s"}},
                {"model": "copy-tf-0.5", "text": "hcadqbbtqsrk"},
                {"model": "dates", "text": "27 Nov 2026", "target": "2026-11-27"},
            ]
        },
        "extra": "forbid",
        "strict": True,
    }


class Lane(BaseModel):
    steps: int = Field(description="Steps this lane ran (teacher: the label length + <eos>).")
    fed: list[str] = Field(description="The token read at each step: <bos>, then the previous token.")
    predicted: list[str] = Field(description="argmax p(y_i | what was fed) at each step.")
    written: list[str] = Field(description="The lane's output token (= predicted, except an injected step).")
    predicted_prob: list[float] = Field(description="p of the predicted token.")
    gold_prob: list[float | None] = Field(description="p of the gold y_i (null past the label).")
    loss: list[float | None] = Field(description="−log p(gold y_i), the per-step loss (null past the label).")
    correct: list[bool | None] = Field(description="written == gold y_i (null past the label).")
    top: list[list[TokenProb]] = Field(description="Top-3 tokens at each step.")
    attention: list[list[float]] | None = Field(
        description="α at each step, [steps][T_in]; null without attention."
    )
    loss_mean: float | None = Field(description="Mean per-step loss over the steps that have a gold token.")
    output_text: str = Field(description="The written tokens without specials.")
    finished: bool | None = Field(
        description="Free running: it wrote <eos> (else hit max_length). Teacher: null."
    )


class InjectInfo(BaseModel):
    step: int
    token: str
    replaced: str = Field(description="What the model itself predicted at that step.")
    gold: str | None = Field(description="The gold token at that step (null past the label).")
    is_error: bool = Field(description="The injected token differs from the gold one.")


class ForcingResponse(BaseModel):
    model: str
    has_attention: bool
    training: str | None = Field(description="How the model was trained (teacher-forcing ratio), if known.")
    source_tokens: list[str] = Field(description="The input as the encoder read it.")
    unknown: list[int] = Field(description="Indices of source characters the vocabulary does not know.")
    target_tokens: list[str] = Field(description="The gold y_1..y_L and <eos>: one per teacher-forced step.")
    target_text: str
    target_from: Literal["copy", "request"] = Field(description="copy: the label is the text itself.")
    symbols: list[str] = Field(description="Tokens the decoder can write (valid inject tokens).")
    inject: InjectInfo | None
    teacher: Lane
    free: Lane
    first_divergence: int | None = Field(description="First step where the two lanes read different tokens.")
    first_error: int | None = Field(description="First step where free running wrote a wrong token.")
    max_length: int


def writable(target: Vocab) -> list[str]:
    """Tokens the decoder may write: the symbols and <eos>."""
    banned = {target.specials[r] for r in NOT_WRITABLE if r in target.specials}
    return [t for t in target.tokens if t not in banned]


def _quote(chars: list[str]) -> str:
    shown = ", ".join(repr(c) for c in chars[:8])
    return shown + (f" and {len(chars) - 8} more" if len(chars) > 8 else "")


def _symbols_text(target: Vocab) -> str:
    symbols = [t for t in writable(target) if t not in target.specials.values()]
    return " ".join(symbols) if len(symbols) <= 40 else " ".join(symbols[:40]) + " …"


def gold_target(body: ForcingRequest, entry: ModelEntry, target: Vocab, limit: int) -> tuple[list[int], str]:
    """The label's ids and where it came from, or a 422 that says what is wrong with it."""
    if body.target:
        text, origin, field = body.target, "request", "target"
    elif entry.task == "copy":
        text, origin, field = body.text, "copy", "text"
    else:
        raise ApiError(
            422,
            f"target is required: model {entry.name!r} is a {entry.task} model, not a copy model; give "
            "the correct output as target (only a copy model's label is its input).",
            "target",
            code="missing",
            params={"model": entry.name},
        )
    enc = target.encode(text)
    if enc.unknown:
        bad = list(dict.fromkeys(enc.tokens[i] for i in enc.unknown))
        what = (
            "target" if origin == "request" else "target: empty, so the label is the copy of text, but text"
        )
        raise ApiError(
            422,
            f"{what} has characters model {entry.name!r} cannot write: {_quote(bad)} "
            f"(it writes: {_symbols_text(target)}).",
            field,
            code="invalid-value",
            params={"model": entry.name},
        )
    if len(enc.ids) + 1 > limit:
        what = "target" if origin == "request" else "text (the copy's label)"
        raise ApiError(
            422,
            f"{what} is {len(enc.ids)} tokens long, but the limit is {limit - 1} "
            f"(at most {limit} decoding steps, <eos> included).",
            field,
            code="too-many-steps",
            params={"length": len(enc.ids), "limit": limit - 1},
        )
    return enc.ids, origin


def inject_token(body: ForcingRequest, entry: ModelEntry, target: Vocab) -> tuple[int, int] | None:
    if body.inject is None:
        return None
    token = body.inject.token
    allowed = writable(target)
    if token not in allowed:
        raise ApiError(
            422,
            f"inject.token {token!r} is not a token model {entry.name!r} can write "
            f"(choose one of: {' '.join(allowed)}).",
            "inject.token",
            code="invalid-value",
            params={"got": token, "choices": allowed},
        )
    return body.inject.step, target.id(token)


def lane(
    run: Unrolled,
    written: list[int],
    gold: torch.Tensor,
    target: Vocab,
    digits: int | None,
    finished: bool | None,
) -> dict[str, Any]:
    """One lane's fields; ``gold`` (L,) holds y_1..y_L and eos, compared where both exist."""

    def num(x: Any) -> np.ndarray:
        return full_precision(x) if digits is None else round_sig(x, digits)

    logits = run.logits[0]  # (n, V)
    n = logits.shape[0]
    probs = torch.softmax(logits, dim=-1)  # (n, V)
    predicted = logits.argmax(-1)  # (n,)
    m = min(n, gold.shape[0])  # steps that have a gold token
    nll = gold_nll(logits[:m], gold[:m])  # (m,)
    pad: list[None] = [None] * (n - m)
    tokens = target.tokens
    return {
        "steps": n,
        "fed": [tokens[i] for i in run.fed[0].tolist()],
        "predicted": [tokens[i] for i in predicted.tolist()],
        "written": [tokens[i] for i in written],
        "predicted_prob": num(probs.gather(-1, predicted[:, None]).squeeze(-1)),
        "gold_prob": [*num(probs[:m].gather(-1, gold[:m, None]).squeeze(-1)), *pad],
        "loss": [*num(nll), *pad],
        "correct": [written[i] == int(gold[i]) for i in range(m)] + pad,
        "top": top_k(logits, target, 3, digits),
        "attention": None if run.alpha is None else num(run.alpha[0]),
        "loss_mean": num(nll.mean()[None])[0] if m else None,
        "output_text": target.decode(written),
        "finished": finished,
    }


@router.post("/forcing", response_model=ForcingResponse, responses=ERRORS)
async def forcing(
    body: ForcingRequest, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    """Decode one source twice, fed the gold previous token and fed its own, step by step."""
    return await cached_json(request, "forcing.forcing", body, lambda: _forcing(body, registry, settings))


def _forcing(body: ForcingRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    entry = require_model(registry, body.model, SEQ2SEQ_KINDS)
    check_length(body.text, settings.max_seq2seq_chars, "text")
    if body.target and len(body.target) > settings.max_seq2seq_chars:
        check_length(body.target, settings.max_seq2seq_chars, "target")
    source, target = vocabs(entry)
    limit = settings.max_decode_length
    if body.inject is not None and body.inject.step >= limit:
        raise ApiError(
            422,
            f"inject.step must be at most {limit - 1}; got {body.inject.step}.",
            "inject.step",
            code="out-of-range",
            params={"limit": limit - 1, "got": body.inject.step},
        )
    gold_ids, origin = gold_target(body, entry, target, limit)
    injected = inject_token(body, entry, target)
    net: Any = entry.net
    assert isinstance(net, Seq2Seq)
    enc = source.encode(body.text)
    pricing.charge(
        pricing.forcing(net, len(enc.ids), limit), settings, "text", full_precision=body.full_precision
    )
    eos = target.special_id("eos")
    gold = torch.tensor([*gold_ids, eos])  # (L+1,) y_1..y_L, eos
    target_in = torch.tensor([[target.special_id("bos"), *gold_ids]])  # (1, L+1)
    with torch.inference_mode():
        memory = net.encode(torch.tensor(enc.ids))
        teacher = teacher_forced(net, memory, target_in)
        free = free_running(net, memory, limit, injected)
    if injected is not None and injected[0] >= free.run.steps:
        end = free.run.steps - 1
        why = "it wrote <eos> there" if free.finished else f"the limit is {limit} steps"
        raise ApiError(
            422,
            f"inject.step is {injected[0]}, but the free-running lane ends at step {end} ({why}); "
            f"choose a step from 0 to {end}.",
            "inject.step",
            code="invalid-value",
            params={"got": injected[0], "limit": end},
        )
    digits = None if body.full_precision else settings.float_digits
    teacher_predicted = teacher.logits[0].argmax(-1).tolist()
    teacher_lane = lane(teacher, teacher_predicted, gold, target, digits, None)
    free_lane = lane(free.run, free.written, gold, target, digits, free.finished)
    tf_fed, fr_fed = teacher.fed[0].tolist(), free.run.fed[0].tolist()
    first_divergence = next((i for i, (a, b) in enumerate(zip(tf_fed, fr_fed, strict=False)) if a != b), None)
    first_error = next((i for i, ok in enumerate(free_lane["correct"]) if ok is False), None)
    if first_error is None and free.run.steps < gold.shape[0]:
        first_error = free.run.steps  # stopped before the label ended (a missing token is wrong)
    inject_info = None
    if injected is not None:
        s, token = injected
        gold_at = target.tokens[int(gold[s])] if s < gold.shape[0] else None
        inject_info = {
            "step": s,
            "token": target.tokens[token],
            "replaced": target.tokens[free.predicted[s]],
            "gold": gold_at,
            "is_error": gold_at != target.tokens[token],
        }
    content = {
        "model": entry.name,
        "has_attention": bool(net.attention),
        "training": entry.metrics.get("teacher_forcing"),
        "source_tokens": enc.tokens,
        "unknown": enc.unknown,
        "target_tokens": [target.tokens[i] for i in gold.tolist()],
        "target_text": target.decode(gold_ids),
        "target_from": origin,
        "symbols": writable(target),
        "inject": inject_info,
        "teacher": teacher_lane,
        "free": free_lane,
        "first_divergence": first_divergence,
        "first_error": first_error,
        "max_length": limit,
    }
    return content
