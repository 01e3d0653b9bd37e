"""Seq2Seq translation with its attention trace: α, energies, the context vector, hard attention."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import numpy as np
import torch
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.api import pricing
from app.api.cache import cached_json
from app.api.deps import RegistryDep, SettingsDep, check_at_most, check_length, require_model
from app.api.encoding import full_precision, round_sig
from app.api.errors import ApiError
from app.api.routes.lstm import top_k
from app.api.schemas import ERRORS, Strict, TokenProb
from app.checkpoints import ModelEntry
from app.nets.seq2seq import Decoded, Seq2Seq, trace_translation
from app.tasks.vocab import Vocab

router = APIRouter(prefix="/api/seq2seq", tags=["seq2seq"])

SEQ2SEQ_KINDS = ("seq2seq",)


class TranslateRequest(Strict):
    model: str = Field(examples=["dates"], description="Name of a seq2seq model.")
    text: str = Field(examples=["27 Nov 2026"], description="Source text (characters).")
    snapshot: int | None = Field(
        default=None,
        ge=0,
        description="Index of a training snapshot (0 = earliest); omit for the final weights.",
    )
    attention_mode: Literal["soft", "hard"] = Field(
        default="soft",
        description="soft: c_i = Σ_j α_ij h_j. hard: also decode `samples` times, each step using "
        "h_j at one position sampled from α_i.",
    )
    samples: int = Field(default=20, ge=1, description="Hard-attention runs (hard mode only).")
    seed: int = Field(default=0, ge=0, le=2**53, description="Seed of the hard-attention sampler.")
    full_precision: bool = Field(default=False, description="Skip display rounding (4 significant digits).")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"model": "dates", "text": "27 Nov 2026"},
                {
                    "model": "dates",
                    "text": "vendredi 27 novembre 2026",
                    "attention_mode": "hard",
                    "samples": 20,
                },
                {"model": "copy-attention", "text": "abcdefghijklmnopqrst", "snapshot": 3},
            ]
        },
        "extra": "forbid",
    }


class ContextContributions(BaseModel):
    encoder_states: list[list[float]] = Field(description="h_j = [→h_j; ←h_j], [T_in][2H].")
    context: list[list[float]] = Field(description="c_i = Σ_j α_ij h_j, [T_out][2H].")
    share: list[list[float]] = Field(
        description="Each input's share of c_i: (α_ij h_j · c_i) / ‖c_i‖², [T_out][T_in]; rows sum to 1."
    )
    norm: list[list[float]] = Field(
        description="‖α_ij h_j‖, the length of each weighted state, [T_out][T_in]."
    )


class HardRun(BaseModel):
    output_tokens: list[str] = Field(description="Tokens this run wrote (eos included if it ended).")
    output_text: str
    positions: list[int] = Field(description="The input position sampled at each output step, [T_k].")
    weights: list[list[float]] = Field(description="The α_i each position was sampled from, [T_k][T_in].")
    finished: bool = Field(description="Ended with eos (else stopped at the length limit).")
    same_as_soft: bool


class OutputCount(BaseModel):
    text: str
    count: int
    same_as_soft: bool


class HardAttention(BaseModel):
    samples: int
    seed: int
    runs: list[HardRun]
    outputs: list[OutputCount] = Field(description="Distinct outputs over the runs, most frequent first.")
    differ: int = Field(description="Runs whose output differs from soft decoding.")
    differ_fraction: float


class SnapshotInfo(BaseModel):
    step: int = Field(description="Training step at which the weights were copied.")
    metrics: dict[str, Any] = Field(description="Held-out metrics measured at that step.")


class TranslateResponse(BaseModel):
    model: str
    has_attention: bool
    snapshot: int | None = Field(description="The snapshot used, or null for the final weights.")
    snapshot_step: int | None = Field(description="Training step of the weights used (null: final).")
    snapshots: list[SnapshotInfo] = Field(description="Every stored training snapshot, oldest first.")
    training_steps: int | None = Field(description="Steps of the whole training run (the final weights).")
    source_tokens: list[str] = Field(description="The input as the encoder read it, one character per step.")
    unknown: list[int] = Field(description="Indices of source characters the vocabulary does not know.")
    output_tokens: list[str] = Field(description="Decoded tokens, eos included when the model wrote it.")
    output_text: str = Field(description="The output without special tokens.")
    finished: bool = Field(description="Decoding ended with eos (else it hit max_length).")
    max_length: int
    attention: list[list[float]] | None = Field(description="α, [T_out][T_in]; rows sum to 1.")
    energies: list[list[float]] | None = Field(description="e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j).")
    context_contributions: ContextContributions | None
    fixed_context: list[float] = Field(description="C = [→h_T; ←h_1], the encoder's final state (2H).")
    top_next: list[list[TokenProb]] = Field(description="Top-5 tokens at each output step.")
    hard: HardAttention | None = Field(description="Hard-attention runs (attention_mode 'hard').")


def vocabs(entry: ModelEntry) -> tuple[Vocab, Vocab]:
    """The (source, target) vocabularies of a seq2seq checkpoint, built once per model."""
    cached = entry.extras.get("seq2seq_vocab")
    if cached is None:
        vocab = entry.checkpoint["vocab"]
        cached = (Vocab.from_dict(vocab["source"]), Vocab.from_dict(vocab["target"]))
        entry.extras["seq2seq_vocab"] = cached
    return cached


def pick_net(entry: ModelEntry, snapshot: int | None) -> tuple[Seq2Seq, int | None]:
    """The final net, or a training snapshot's (422 naming the range if there is no such snapshot)."""
    snaps = entry.snapshots
    if snapshot is None:
        net: Any = entry.net
        return net, None
    if not snaps:
        raise ApiError(
            422,
            f"snapshot is {snapshot}, but model {entry.name!r} has no training snapshots.",
            "snapshot",
            code="not-in-model",
            params={"got": snapshot, "limit": None},
        )
    if snapshot >= len(snaps):
        count = f"{len(snaps)} snapshots (0 to {len(snaps) - 1})"
        raise ApiError(
            422,
            f"snapshot is {snapshot}, but model {entry.name!r} has {count}.",
            "snapshot",
            code="not-in-model",
            params={"got": snapshot, "limit": len(snaps) - 1},
        )
    snap_net: Any = entry.snapshot_net(snapshot)
    return snap_net, int(snaps[snapshot]["step"])


def _row_tokens(decoded: Decoded, b: int, target: Vocab) -> tuple[list[str], str]:
    ids = decoded.row(b)
    return [target.tokens[i] for i in ids], target.decode(ids)


@router.post("/translate", response_model=TranslateResponse, responses=ERRORS)
async def translate(
    body: TranslateRequest, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    """Translate text greedily and return α, the energies, each input's share of c_i and the top-5."""
    return await cached_json(request, "seq2seq.translate", body, lambda: _translate(body, registry, settings))


def _translate(body: TranslateRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    entry = require_model(registry, body.model, SEQ2SEQ_KINDS)
    check_length(body.text, settings.max_seq2seq_chars, "text")
    hard = body.attention_mode == "hard"
    check_at_most(body.samples, settings.max_hard_samples, "samples")  # in soft mode too
    net, step = pick_net(entry, body.snapshot)
    if hard and not net.attention:
        raise ApiError(
            422,
            f"attention_mode 'hard' samples positions from α, but model {entry.name!r} has no attention.",
            "attention_mode",
            code="invalid-value",
            params={"model": entry.name},
        )
    source, target = vocabs(entry)
    enc = source.encode(body.text)
    if not enc.ids:
        raise ApiError(422, "text has no tokens (only spaces?).", "text", code="invalid-value")
    max_len = settings.max_decode_length
    price = pricing.translate(net, len(enc.ids), max_len, body.samples if hard else 0)
    pricing.charge(price, settings, "text", full_precision=body.full_precision)
    trace = trace_translation(
        net, torch.tensor(enc.ids), max_len, samples=body.samples if hard else 0, seed=body.seed
    )
    digits = None if body.full_precision else settings.float_digits

    def num(x: Any) -> np.ndarray:
        return full_precision(x) if digits is None else round_sig(x, digits)

    soft = trace.soft
    length = int(soft.lengths[0])
    output_tokens, output_text = _row_tokens(soft, 0, target)
    attention = energies = contributions = None
    if soft.alpha is not None and soft.energies is not None and soft.context is not None:
        alpha = soft.alpha[0, :length]  # (T_out, T_in)
        context = soft.context[0, :length]  # (T_out, 2H)
        states = trace.memory.states[0]  # (T_in, 2H)
        attention = num(alpha)
        energies = num(soft.energies[0, :length])
        assert trace.shares is not None
        contributions = {
            "encoder_states": num(states),
            "context": num(context),
            "share": num(trace.shares[:length]),
            "norm": num(alpha * states.norm(dim=-1)[None, :]),  # ‖α_ij h_j‖ = α_ij ‖h_j‖
        }
    hard_out = None
    if trace.hard is not None:
        runs = []
        for b in range(trace.hard.tokens.shape[0]):
            n = int(trace.hard.lengths[b])
            tokens, text = _row_tokens(trace.hard, b, target)
            assert trace.hard.positions is not None and trace.hard.weights is not None
            runs.append(
                {
                    "output_tokens": tokens,
                    "output_text": text,
                    "positions": trace.hard.positions[b, :n].tolist(),
                    "weights": num(trace.hard.weights[b, :n]),
                    "finished": bool(trace.hard.finished[b]),
                    "same_as_soft": text == output_text,
                }
            )
        counts = Counter(run["output_text"] for run in runs)
        differ = sum(1 for run in runs if not run["same_as_soft"])
        hard_out = {
            "samples": len(runs),
            "seed": body.seed,
            "runs": runs,
            "outputs": [
                {"text": text, "count": count, "same_as_soft": text == output_text}
                for text, count in counts.most_common()
            ],
            "differ": differ,
            "differ_fraction": differ / len(runs),
        }
    content = {
        "model": entry.name,
        "has_attention": bool(net.attention),
        "snapshot": body.snapshot,
        "snapshot_step": step,
        "snapshots": [{"step": int(s["step"]), "metrics": s.get("metrics") or {}} for s in entry.snapshots],
        "training_steps": entry.checkpoint.get("provenance", {}).get("steps"),
        "source_tokens": enc.tokens,
        "unknown": enc.unknown,
        "output_tokens": output_tokens,
        "output_text": output_text,
        "finished": bool(soft.finished[0]),
        "max_length": max_len,
        "attention": attention,
        "energies": energies,
        "context_contributions": contributions,
        "fixed_context": num(trace.memory.final[0]),
        "top_next": top_k(soft.logits[0, :length], target, 5, digits),
        "hard": hard_out,
    }
    return content
