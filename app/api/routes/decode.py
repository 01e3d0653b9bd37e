"""Greedy vs beam search on a seq2seq model: the whole beam tree, the n-best and greedy's path."""

from __future__ import annotations

import math
from typing import Any

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
from app.api.routes.seq2seq import SEQ2SEQ_KINDS, SnapshotInfo, pick_net, vocabs
from app.api.schemas import ERRORS, Strict
from app.decoding import BeamResult, Hypothesis, Seq2SeqDecoder, beam_search, greedy, length_penalty
from app.tasks import idioms
from app.tasks.vocab import Vocab

router = APIRouter(prefix="/api/decode", tags=["decode"])

MAX_LENGTH_PENALTY = 2.0  # GNMT uses α ≈ 0.6–0.7; beyond 2 the ranking is all about length


class BeamRequest(Strict):
    model: str = Field(examples=["idioms"], description="Name of a seq2seq model.")
    text: str = Field(examples=["mirar pasear descansar"], description="Source text.")
    beam_width: int = Field(
        default=5, ge=1, description="k: beams kept per step (1 = greedy); at most Settings.max_beam_width."
    )
    max_length: int | None = Field(
        default=None,
        ge=1,
        description="Most output tokens (EOS included); default and limit: Settings.max_decode_length.",
    )
    length_penalty: float = Field(
        default=0.0,
        ge=0.0,
        le=MAX_LENGTH_PENALTY,
        allow_inf_nan=False,
        description="α of GNMT's lp(|Y|) = ((5 + |Y|) / 6)^α; score = log P(Y) / lp(|Y|). 0 ranks by log P.",
    )
    n_best: int | None = Field(
        default=None, ge=1, description="Hypotheses to return, 1..beam_width (default: beam_width)."
    )
    snapshot: int | None = Field(
        default=None,
        ge=0,
        description="Index of a training snapshot (0 = earliest); omit for the final weights.",
    )
    full_precision: bool = Field(default=False, description="Skip display rounding (4 significant digits).")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"model": "idioms", "text": "mirar pasear descansar", "beam_width": 5},
                {
                    "model": "dates",
                    "text": "vendredi 27 novembre 2026",
                    "beam_width": 3,
                    "length_penalty": 0.6,
                    "snapshot": 2,
                },
            ]
        },
        "extra": "forbid",
    }


class Candidate(BaseModel):
    id: int = Field(description="Unique over the whole search; ids run in rank order within a step.")
    parent: int | None = Field(description="The candidate this one extends (null at step 0).")
    token: str
    token_logprob: float = Field(description="log P(token | prefix, source).")
    logprob: float = Field(description="Cumulative log P of the prefix ending here.")
    score: float = Field(description="logprob / lp(step + 1): the number the candidates are ranked by.")
    kept: bool = Field(description="Among the top beam_width by score at this step.")
    finished: bool = Field(description="Kept and the token is EOS: a finished hypothesis.")
    pruned_rank: int | None = Field(description="The rank (> beam_width) that pruned it; null if kept.")


class Step(BaseModel):
    step: int
    candidates: list[Candidate] = Field(
        description="Every live beam's top 2k continuations, ranked by score (best first)."
    )


class BeamHypothesis(BaseModel):
    tokens: list[str] = Field(description="Output tokens, EOS included when it finished.")
    text: str = Field(description="The output without special tokens.")
    logprob: float
    score: float = Field(description="logprob / lp(|Y|).")
    finished: bool = Field(description="Ended with EOS (else it reached max_length).")
    node: int | None = Field(description="Id of its last candidate in the tree.")
    true_prob: float | None = Field(
        description="The grammar's exact probability of this output (toy tasks with a known grammar)."
    )


class Greedy(BaseModel):
    tokens: list[str]
    text: str
    logprob: float
    score: float = Field(description="logprob / lp(|Y|), comparable with the hypotheses' scores.")
    finished: bool
    token_logprobs: list[float]
    nodes: list[int | None] = Field(
        description="The tree candidate of each greedy prefix; null once greedy has left the beam."
    )
    true_prob: float | None


class TrueBest(BaseModel):
    tokens: list[str]
    text: str
    prob: float


class LexiconEntry(BaseModel):
    source: str
    literal: str = Field(description="The one-token translation (p = 0.4).")
    head: str = Field(description="The idiom's first token, shared by its three variants (p = 0.6).")
    endings: list[str] = Field(description="The idiom's three endings (p = 0.2 each).")


class Grammar(BaseModel):
    p_literal: float
    p_ending: float
    lexicon: list[LexiconEntry]


class BeamResponse(BaseModel):
    model: str
    task: str
    snapshot: int | None
    snapshot_step: int | None
    snapshots: list[SnapshotInfo]
    training_steps: int | None
    source_tokens: list[str] = Field(description="The input as the encoder read it.")
    unknown: list[int] = Field(description="Indices of source tokens the vocabulary does not know.")
    beam_width: int
    max_length: int
    length_penalty: float
    n_best: int
    vocab_size: int = Field(description="V: each step could extend a beam by any of V tokens.")
    target_level: str = Field(description="'char' or 'word': how output tokens join into text.")
    stop_reason: str = Field(
        description="'all ended' (every kept candidate was EOS), 'n-best complete' (no live beam could "
        "still beat the n-th best finished one) or 'max_length'."
    )
    steps: list[Step]
    hypotheses: list[BeamHypothesis] = Field(description="The n-best, best score first.")
    greedy: Greedy
    true_best: TrueBest | None = Field(description="The most probable output under the known grammar.")
    grammar_note: str | None = Field(description="Why true probabilities are missing, when they are.")
    grammar: Grammar | None = Field(description="The toy task's grammar, when the model has one.")


def _numbers(values: list[float], digits: int | None) -> list[Any]:
    """Rounded numbers as numpy float32 scalars (orjson writes them in their shortest form)."""
    arr = full_precision(values) if digits is None else round_sig(values, digits)
    return list(np.asarray(arr))


def _tree(result: BeamResult, target: Vocab, digits: int | None) -> list[dict[str, Any]]:
    steps = []
    names = target.tokens
    for t, s in enumerate(result.steps):
        k = s.n_kept
        parents, tokens, token_lps, lps, scores = s.ranked
        tlp, lp, sc = (_numbers(x, digits) for x in (token_lps, lps, scores))
        steps.append(
            {
                "step": t,
                "candidates": [
                    {
                        "id": s.first_id + j,
                        "parent": parents[j] if parents[j] >= 0 else None,
                        "token": names[tokens[j]],
                        "token_logprob": tlp[j],
                        "logprob": lp[j],
                        "score": sc[j],
                        "kept": j < k,
                        "finished": j < k and tokens[j] == s.eos,
                        "pruned_rank": None if j < k else j + 1,
                    }
                    for j in range(len(s))
                ],
            }
        )
    return steps


def _true_prob(grammar: bool, words: list[str], tokens: list[str], finished: bool) -> float | None:
    if not grammar or not finished:
        return None
    return idioms.true_probability(words, tokens)


def _grammar() -> dict[str, Any]:
    lexicon = [
        {"source": w, "literal": e.literal, "head": e.head, "endings": list(e.endings)}
        for w, e in idioms.LEXICON.items()
    ]
    return {"p_literal": idioms.P_LITERAL, "p_ending": idioms.P_ENDING, "lexicon": lexicon}


def _round(x: float, digits: int | None) -> float:
    if digits is None or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


@router.post("/beam", response_model=BeamResponse, responses=ERRORS)
async def beam(body: BeamRequest, request: Request, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Decode with beam search and greedy; return every candidate of the beam tree, step by step."""
    return await cached_json(request, "decode.beam", body, lambda: _beam(body, registry, settings))


def _beam(body: BeamRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    entry = require_model(registry, body.model, SEQ2SEQ_KINDS)
    check_length(body.text, settings.max_seq2seq_chars, "text")
    k = body.beam_width
    check_at_most(k, settings.max_beam_width, "beam_width")
    max_length = settings.max_decode_length if body.max_length is None else body.max_length
    check_at_most(max_length, settings.max_decode_length, "max_length")
    if body.n_best is not None:
        check_at_most(body.n_best, settings.max_beam_width, "n_best")
    n_best = k if body.n_best is None else body.n_best
    if n_best > k:
        raise ApiError(
            422,
            f"n_best is {n_best}, but beam_width is {k} (n_best must be 1 to beam_width).",
            "n_best",
            code="invalid-value",
            params={"got": n_best, "limit": k},
        )
    net, snapshot_step = pick_net(entry, body.snapshot)
    source, target = vocabs(entry)
    enc = source.encode(body.text)
    if not enc.ids:
        raise ApiError(422, "text has no tokens (only spaces?).", "text", code="invalid-value")
    price = pricing.beam(net, len(enc.ids), k, max_length, len(target))
    pricing.charge(price, settings, "text", full_precision=body.full_precision)
    digits = None if body.full_precision else settings.float_digits
    alpha = body.length_penalty

    with torch.inference_mode():
        decoder = Seq2SeqDecoder(net, net.encode(torch.tensor(enc.ids)))
        result = beam_search(decoder, k, max_length, alpha, n_best)
        g = greedy(decoder, max_length)

    task = str(entry.checkpoint.get("task", ""))
    words = enc.tokens
    grammar = task == "idioms" and idioms.known(words)
    note = None
    if task == "idioms" and not grammar:
        unknown = [w for w in words if w not in idioms.LEXICON]
        note = (
            f"no true probabilities: {', '.join(repr(w) for w in unknown[:5])} not in the grammar's 16 verbs"
        )

    def strings(ids: list[int]) -> list[str]:
        return [target.tokens[i] for i in ids]

    def hypothesis(h: Hypothesis) -> dict[str, Any]:
        tokens = strings(h.tokens)
        return {
            "tokens": tokens,
            "text": target.decode(h.tokens),
            "logprob": _round(h.logprob, digits),
            "score": _round(h.score, digits),
            "finished": h.finished,
            "node": h.node,
            "true_prob": _true_prob(grammar, words, tokens, h.finished),
        }

    g_tokens = strings(g.tokens)
    true_best = None
    if grammar:
        best = idioms.true_best(words)
        true_best = {
            "tokens": [*best, "<eos>"],
            "text": " ".join(best),
            "prob": idioms.true_probability(words, best),
        }
    content = {
        "model": entry.name,
        "task": task,
        "snapshot": body.snapshot,
        "snapshot_step": snapshot_step,
        "snapshots": [{"step": int(s["step"]), "metrics": s.get("metrics") or {}} for s in entry.snapshots],
        "training_steps": entry.checkpoint.get("provenance", {}).get("steps"),
        "source_tokens": enc.tokens,
        "unknown": enc.unknown,
        "beam_width": k,
        "max_length": max_length,
        "length_penalty": alpha,
        "n_best": n_best,
        "vocab_size": len(target),
        "target_level": target.level,
        "stop_reason": result.stop_reason,
        "steps": _tree(result, target, digits),
        "hypotheses": [hypothesis(h) for h in result.hypotheses],
        "greedy": {
            "tokens": g_tokens,
            "text": target.decode(g.tokens),
            "logprob": _round(g.logprob, digits),
            "score": _round(g.logprob / float(length_penalty(len(g.tokens), alpha)), digits),
            "finished": g.finished,
            "token_logprobs": _numbers(g.token_logprobs, digits),
            "nodes": result.path(g.tokens),
            "true_prob": _true_prob(grammar, words, g_tokens, g.finished),
        },
        "true_best": true_best,
        "grammar_note": note,
        "grammar": _grammar() if task == "idioms" else None,
    }
    return content
