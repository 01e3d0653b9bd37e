"""Skip-thought: a sentence's thought vector, the previous and next sentences its decoders write,
its nearest training sentences, and its place on the map of training sentence vectors."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.api import pricing
from app.api.cache import cached_json
from app.api.deps import RegistryDep, SettingsDep, check_at_most, check_length, require_model
from app.api.encoding import FastJSONResponse, full_precision, round_sig
from app.api.errors import ApiError
from app.api.schemas import ERRORS, Strict
from app.checkpoints import ModelEntry
from app.decoding import Hypothesis, beam_search, greedy
from app.nets.skipthought import SIDES, NeighbourSearch, Side, SkipThought
from app.tasks import stories
from app.tasks.vocab import Vocab

router = APIRouter(prefix="/api/skipthought", tags=["skipthought"])

SKIPTHOUGHT_KINDS = ("skipthought",)
NEAREST = 10


class NeighboursRequest(Strict):
    model: str = Field(examples=["stories-skipthought"], description="Name of a skip-thought model.")
    text: str = Field(
        examples=["Anna eats eggs for breakfast."],
        description="One sentence (words; punctuation is split off, case is ignored).",
    )
    beam_width: int = Field(
        default=1, ge=1, description="1: greedy decoding; more: beam search of that width (≤ max_beam_width)."
    )
    full_precision: bool = Field(default=False, description="Skip display rounding (4 significant digits).")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"model": "stories-skipthought", "text": "Anna eats eggs for breakfast."},
                {"model": "stories-skipthought", "text": "Tom buys a train ticket to Rome.", "beam_width": 4},
            ]
        },
        "extra": "forbid",
    }


class Neighbour(BaseModel):
    text: str = Field(description="The sentence the decoder wrote, without special tokens (empty: none).")
    tokens: list[str] = Field(description="Tokens as written, <eos> included when the decoder wrote it.")
    token_logprobs: list[float] = Field(description="log p of each written token given the ones before.")
    logprob: float = Field(description="Σ log p over the tokens (the sentence's log-probability).")
    finished: bool = Field(description="Ended with <eos> (else stopped at max_decode_length).")
    empty: bool = Field(description="The decoder wrote <eos> at once: no sentence on this side.")


class NearestSentence(BaseModel):
    sentence: str
    cosine: float = Field(description="cos(thought, that sentence's thought vector).")
    script: str = Field(description="The script of the story the training sentence comes from.")


class Projection(BaseModel):
    x: float = Field(description="First principal component (the map's x).")
    y: float = Field(description="Second principal component (the map's y).")


class NeighboursResponse(BaseModel):
    model: str
    tokens: list[str] = Field(description="The input as the encoder read it, one word per step.")
    unknown: list[int] = Field(description="Indices of words the vocabulary does not know (read as <unk>).")
    thought: list[float] = Field(description="The thought vector h_T: the encoder's last hidden state, [H].")
    encoder_states: list[list[float]] = Field(
        description="h_t after each word, [T][H]; the last row is the thought."
    )
    previous: Neighbour
    next: Neighbour
    beam_width: int
    max_length: int = Field(
        description="Decoding stops after this many tokens: twice the longest training "
        "sentence (+2), within max_decode_length."
    )
    nearest: list[NearestSentence] = Field(
        description="The 10 training sentences with the closest thought vectors."
    )
    index_size: int = Field(description="How many distinct training sentences `nearest` searched.")
    projection: Projection


class MapPoints(BaseModel):
    x: list[float]
    y: list[float]
    script: list[int] = Field(description="Index into `scripts`.")
    position: list[int] = Field(description="0-based place of the sentence in its story.")
    length: list[int] = Field(description="Sentences in that story.")
    sentence: list[str]


class ScriptInfo(BaseModel):
    name: str
    title: str


class ExampleStory(BaseModel):
    script: str
    title: str
    sentences: list[str]
    forced_next: list[bool] = Field(
        description="Is each sentence's next sentence a function of its text alone?"
    )
    forced_previous: list[bool] = Field(
        description="Is each sentence's previous sentence a function of its text?"
    )


class MapResponse(BaseModel):
    model: str
    scripts: list[ScriptInfo]
    explained: list[float] = Field(description="Share of the variance of training vectors on each axis.")
    points: MapPoints = Field(
        description="A sample of training sentences (200 per script), on the fixed PCA."
    )
    examples: list[ExampleStory] = Field(description="Held-out stories (never trained on), one per script.")
    metrics: dict[str, Any] = Field(description="The held-out metrics stored in the checkpoint.")


@dataclass
class Index:
    """The model's view of its training sentences, built once per model when first needed."""

    vocab: Vocab
    texts: list[str]  # distinct training sentences (pretty)
    script: np.ndarray  # (N,) script index
    unit: torch.Tensor  # (N, H) thought vectors / their norm
    mean: torch.Tensor  # (H,) PCA mean
    components: torch.Tensor  # (2, H)
    xy: np.ndarray  # (N, 2) every training sentence on the map
    scripts: list[str]
    longest: int  # tokens in the longest training sentence


_LOCK = threading.Lock()


def index_of(entry: ModelEntry) -> Index:
    """Encode the distinct training sentences stored in the checkpoint (once per model, at first use)."""
    cached = entry.extras.get("skipthought_index")
    if cached is not None:
        return cached
    with _LOCK:
        cached = entry.extras.get("skipthought_index")
        if cached is None:
            cached = build_index(entry)
            entry.extras["skipthought_index"] = cached
    return cached


@torch.inference_mode()
def build_index(entry: ModelEntry) -> Index:
    ckpt = entry.checkpoint
    net: Any = entry.net
    vocab = Vocab.from_dict(ckpt["vocab"])
    corpus = ckpt.get("corpus")
    pca = ckpt.get("pca")
    if not isinstance(corpus, dict) or not isinstance(pca, dict):
        raise ApiError(
            409,
            f"Model {entry.name!r} has no stored training sentences or PCA.",
            "model",
            code="model-unavailable",
            params={"model": entry.name},
        )
    ids = corpus["ids"].long()
    offsets = corpus["offsets"].long().tolist()
    rows = [ids[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    texts = [stories.pretty(vocab.tokens[int(t)] for t in row) for row in rows]
    thought = torch.zeros(len(rows), net.hidden_size)
    by_length: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        by_length.setdefault(len(row), []).append(i)
    for group in by_length.values():  # equal lengths: no padding, one nn.LSTM call per length
        thought[group] = net.encode(torch.stack([rows[i] for i in group]))[0]
    mean, components = pca["mean"].float(), pca["components"].float()
    return Index(
        vocab=vocab,
        texts=texts,
        script=corpus["script"].numpy().astype(np.int64),
        unit=thought / thought.norm(dim=1, keepdim=True).clamp_min(1e-12),
        mean=mean,
        components=components,
        xy=((thought - mean) @ components.T).numpy(),
        scripts=list(corpus["scripts"]),
        longest=max((len(r) for r in rows), default=1),
    )


def neighbour(
    net: SkipThought, side: Side, thought: torch.Tensor, beam_width: int, max_length: int
) -> Hypothesis:
    search = NeighbourSearch(net, side, thought)
    if beam_width == 1:
        return greedy(search, max_length)
    return beam_search(search, beam_width, max_length).hypotheses[0]


def describe(hyp: Hypothesis, vocab: Vocab, digits: int | None) -> dict[str, Any]:
    eos = vocab.special_id("eos")
    words = [t for t in hyp.tokens if t != eos]
    return {
        "text": stories.pretty(vocab.tokens[t] for t in words) if words else "",
        "tokens": [vocab.tokens[t] for t in hyp.tokens],
        "token_logprobs": hyp.token_logprobs if digits is None else round_sig(hyp.token_logprobs, digits),
        "logprob": hyp.logprob if digits is None else float(round_sig(hyp.logprob, digits)),
        "finished": hyp.finished,
        "empty": hyp.finished and not words,
    }


@router.post("/neighbours", response_model=NeighboursResponse, responses=ERRORS)
async def neighbours(
    body: NeighboursRequest, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    """Encode a sentence; decode the sentences before and after it; its nearest training sentences."""
    return await cached_json(
        request, "skipthought.neighbours", body, lambda: _neighbours(body, registry, settings)
    )


def _neighbours(body: NeighboursRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    entry = require_model(registry, body.model, SKIPTHOUGHT_KINDS)
    check_length(body.text, settings.max_sentence_chars, "text")
    words = stories.tokenize(body.text)
    check_length(words, settings.max_sentence_words, "text", unit="words")
    check_at_most(body.beam_width, settings.max_beam_width, "beam_width")
    index = index_of(entry)
    net: Any = entry.net
    enc = index.vocab.encode(words)
    # Decoders never saw a sentence longer than the longest training sentence; a beam that has not
    # ended by twice that length is rambling (beam search runs until every kept beam has ended).
    max_length = min(settings.max_decode_length, 2 * index.longest + 2)
    price = pricing.skipthought(net, len(enc.ids), body.beam_width, max_length, len(index.texts))
    pricing.charge(price, settings, "text", full_precision=body.full_precision)
    digits = None if body.full_precision else settings.float_digits

    def num(x: Any) -> np.ndarray:
        return full_precision(x) if digits is None else round_sig(x, digits)

    def scalar(x: float) -> float:
        return float(x) if digits is None else float(round_sig(x, digits))

    with torch.inference_mode():
        thought, states = net.encode(torch.tensor(enc.ids))  # (1, H), (1, T, H)
        sides = {side: neighbour(net, side, thought, body.beam_width, max_length) for side in SIDES}
        cosine = index.unit @ (thought[0] / thought[0].norm().clamp_min(1e-12))  # (N,)
        top = torch.topk(cosine, min(NEAREST, len(index.texts)))
        xy = ((thought[0] - index.mean) @ index.components.T).tolist()
    content = {
        "model": entry.name,
        "tokens": enc.tokens,
        "unknown": enc.unknown,
        "thought": num(thought[0]),
        "encoder_states": num(states[0]),
        "previous": describe(sides["previous"], index.vocab, digits),
        "next": describe(sides["next"], index.vocab, digits),
        "beam_width": body.beam_width,
        "max_length": max_length,
        "nearest": [
            {
                "sentence": index.texts[i],
                "cosine": scalar(c),
                "script": index.scripts[int(index.script[i])],
            }
            for c, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
        ],
        "index_size": len(index.texts),
        "projection": {"x": scalar(xy[0]), "y": scalar(xy[1])},
    }
    return content


def example_stories(entry: ModelEntry) -> list[dict[str, Any]]:
    """One held-out story per script (fresh from the generator; never trained on)."""
    seed = int((entry.checkpoint.get("corpus") or {}).get("seed", 0))
    rng = random.Random(f"stories-examples-{seed}")
    order = list(stories.SCRIPTS)
    told = sorted(stories.generate(len(order), rng, "held_out"), key=lambda s: order.index(s.script))
    return [
        {
            "script": story.script,
            "title": stories.SCRIPTS[story.script].title,
            "sentences": [stories.pretty(s.text) for s in story.sentences],
            "forced_next": [s.forced_next for s in story.sentences],
            "forced_previous": [s.forced_previous for s in story.sentences],
        }
        for story in told
    ]


@router.get("/map", response_model=MapResponse, responses=ERRORS)
def sentence_map(
    registry: RegistryDep,
    settings: SettingsDep,
    model: str = Query(examples=["stories-skipthought"], description="Name of a skip-thought model."),
) -> FastJSONResponse:
    """The map of training sentence vectors (fixed PCA), held-out example stories and the metrics."""
    entry = require_model(registry, model, SKIPTHOUGHT_KINDS)
    index = index_of(entry)
    corpus = entry.checkpoint["corpus"]
    sample = corpus["map"]
    rows = sample["sentence"].long().numpy()
    xy = round_sig(index.xy[rows], settings.float_digits)
    titles = list(corpus.get("script_titles") or index.scripts)
    content = {
        "model": entry.name,
        "scripts": [{"name": n, "title": t} for n, t in zip(index.scripts, titles, strict=True)],
        "explained": list((entry.checkpoint.get("pca") or {}).get("explained", [])),
        "points": {
            "x": np.ascontiguousarray(xy[:, 0]),  # float32: short JSON numbers
            "y": np.ascontiguousarray(xy[:, 1]),
            "script": index.script[rows].tolist(),
            "position": sample["position"].tolist(),
            "length": sample["length"].tolist(),
            "sentence": [index.texts[i] for i in rows.tolist()],
        },
        "examples": example_stories(entry),
        "metrics": {k: v for k, v in entry.metrics.items() if k != "summary"},
    }
    return FastJSONResponse(content)
