"""POST /api/skipthought/neighbours and GET /api/skipthought/map on a tiny untrained net with a
real (small) story corpus: shapes, the numbers against the net itself, limits and error bodies."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from app.api.routes.skipthought import MapResponse, NeighboursResponse
from app.checkpoints import Registry, build_net, save
from app.config import Settings
from app.decoding import greedy
from app.main import create_app
from app.nets.skipthought import NeighbourSearch, SkipThought
from app.recipes.skipthought import (
    build_corpus,
    encode_all,
    make_vocab,
    map_sample,
    pack_sentences,
    pca_2d,
    skipthought_metrics,
    summary,
)
from app.tasks import stories
from tests.conftest import make_checkpoint, tiny_char_lm_checkpoint


def tiny_skipthought_checkpoint(name: str = "tiny-skip") -> dict[str, Any]:
    """A tiny untrained skip-thought net with everything a real checkpoint carries."""
    told = stories.generate(60, random.Random(0), "train")
    vocab = make_vocab(stories.words())  # every story word, so held-out examples have no <unk>
    corpus = build_corpus(told, vocab)
    config = {
        "vocab_size": len(vocab),
        "embed_size": 8,
        "hidden_size": 12,
        "decoder_size": 10,
        "pad_id": vocab.special_id("pad"),
        "bos_id": vocab.special_id("bos"),
        "eos_id": vocab.special_id("eos"),
    }
    ckpt = make_checkpoint(name, "skipthought", config, vocab.to_dict(), task="stories")
    net = build_net(ckpt)
    held_out = build_corpus(stories.generate(10, random.Random(1), "held_out"), vocab)
    metrics = skipthought_metrics(net, held_out, vocab, seed=0)  # type: ignore[arg-type]
    ckpt["metrics"] = {
        **metrics,
        "held_out_stories": 10,
        "held_out_sentences": 70,
        "summary": summary(metrics),
    }
    ckpt["corpus"] = {
        **pack_sentences(corpus, vocab),
        "scripts": list(stories.SCRIPTS),
        "script_titles": [s.title for s in stories.SCRIPT_LIST],
        "map": map_sample(corpus, 3, random.Random(0)),
        "train_stories": len(told),
        "seed": 0,
    }
    ckpt["pca"] = pca_2d(encode_all(net, corpus, torch.arange(len(corpus.texts))))  # type: ignore[arg-type]
    ckpt["texts"] = corpus.texts  # for the tests only
    return ckpt


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return tiny_skipthought_checkpoint()


@pytest.fixture
def st_client(tmp_path: Path, tiny: dict[str, Any]) -> Iterator[TestClient]:
    d = tmp_path / "models"
    save(tiny, d / "tiny-skip.pt")
    save(tiny_char_lm_checkpoint(), d / "tiny-char.pt")
    settings = Settings(models_dir=d, upload_dir=tmp_path / "uploads")
    with TestClient(create_app(settings, Registry.from_paths(d))) as c:
        yield c


def post(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/skipthought/neighbours", json={"model": "tiny-skip", **body})


def net_of(client: TestClient) -> SkipThought:
    entry = client.app.state.registry.get("tiny-skip")  # type: ignore[attr-defined]
    return entry.net  # type: ignore[no-any-return]


def test_shapes_and_schema(st_client: TestClient, tiny: dict[str, Any]) -> None:
    r = post(st_client, text="Anna eats eggs for breakfast.")
    assert r.status_code == 200, r.text
    body = r.json()
    NeighboursResponse.model_validate(body)
    assert body["tokens"] == ["anna", "eats", "eggs", "for", "breakfast", "."]
    assert body["unknown"] == []
    assert len(body["thought"]) == 12
    assert len(body["encoder_states"]) == 6 and body["encoder_states"][-1] == body["thought"]
    assert len(body["nearest"]) == 10 and body["index_size"] == len(tiny["texts"])
    cosines = [n["cosine"] for n in body["nearest"]]
    assert cosines == sorted(cosines, reverse=True) and all(-1.0001 <= c <= 1.0001 for c in cosines)
    assert all(n["script"] in stories.SCRIPTS for n in body["nearest"])
    for side in ("previous", "next"):
        n = body[side]
        assert n["finished"] == (n["tokens"][-1:] == ["<eos>"])
        assert n["empty"] == (n["tokens"] == ["<eos>"])
        assert len(n["token_logprobs"]) == len(n["tokens"])
    assert set(body["projection"]) == {"x", "y"}


def test_numbers_are_the_nets(st_client: TestClient, tiny: dict[str, Any]) -> None:
    text = "Tom buys a train ticket to Rome."
    body = post(st_client, text=text, full_precision=True).json()
    net = net_of(st_client)
    vocab = stories.tokenize(text)
    from app.tasks.vocab import Vocab

    ids = Vocab.from_dict(tiny["vocab"]).encode(vocab).ids
    with torch.no_grad():
        thought, _ = net.encode(torch.tensor(ids))
    assert torch.allclose(torch.tensor(body["thought"]), thought[0], atol=1e-6)
    xy = (thought[0] - tiny["pca"]["mean"]) @ tiny["pca"]["components"].T
    assert body["projection"]["x"] == pytest.approx(float(xy[0]), abs=1e-5)
    assert body["projection"]["y"] == pytest.approx(float(xy[1]), abs=1e-5)
    longest = max(len(t.split()) for t in tiny["texts"])
    assert body["max_length"] == min(64, 2 * longest + 2)
    g = greedy(NeighbourSearch(net, "next", thought), body["max_length"])
    assert body["next"]["tokens"] == [net_vocab_token(tiny, t) for t in g.tokens]
    assert body["next"]["logprob"] == pytest.approx(g.logprob, abs=1e-5)
    assert body["next"]["logprob"] == pytest.approx(sum(body["next"]["token_logprobs"]), abs=1e-4)
    # cosine against the first nearest sentence, recomputed from its own encoding
    first = body["nearest"][0]
    other = Vocab.from_dict(tiny["vocab"]).encode(stories.tokenize(first["sentence"])).ids
    with torch.no_grad():
        v, _ = net.encode(torch.tensor(other))
    assert torch.cosine_similarity(thought, v).item() == pytest.approx(first["cosine"], abs=1e-5)


def net_vocab_token(tiny: dict[str, Any], i: int) -> str:
    return str(tiny["vocab"]["tokens"][i])


def test_a_training_sentence_is_its_own_nearest(st_client: TestClient, tiny: dict[str, Any]) -> None:
    sentence = stories.pretty(tiny["texts"][7])
    body = post(st_client, text=sentence).json()
    assert body["nearest"][0]["sentence"] == sentence
    assert body["nearest"][0]["cosine"] == pytest.approx(1.0, abs=1e-3)


def test_beam_search_and_unknown_words(st_client: TestClient) -> None:
    body = post(st_client, text="Anna eats 😀 zzz for breakfast", beam_width=3).json()
    assert body["beam_width"] == 3
    assert body["unknown"] == [2, 3]
    assert body["tokens"][2] == "😀"


@pytest.mark.parametrize(
    "body,words",
    [
        ({"text": ""}, ["text", "empty"]),
        ({"text": "   "}, ["text", "empty"]),
        ({"text": " ".join(["word"] * 41)}, ["41 words", "limit is 40"]),
        ({"text": "x" * 401}, ["401 characters", "limit is 400"]),
        ({"text": "Anna runs.", "beam_width": 17}, ["beam_width", "17", "16"]),
        ({"text": "Anna runs.", "beam_width": 0}, ["beam_width"]),
        ({"text": "Anna runs.", "beam_width": "2"}, ["beam_width"]),
        ({"text": ["Anna"]}, ["text"]),
        ({"text": "Anna runs.", "temperature": 1}, ["temperature"]),
    ],
)
def test_limits_are_readable_422s(st_client: TestClient, body: dict[str, Any], words: list[str]) -> None:
    r = post(st_client, **body)
    assert r.status_code == 422, r.text
    for word in words:
        assert word in r.json()["message"]


def test_unknown_and_wrong_models(st_client: TestClient) -> None:
    r = st_client.post("/api/skipthought/neighbours", json={"model": "nope", "text": "Anna runs."})
    assert r.status_code == 404 and "tiny-skip" in r.json()["message"]
    r = st_client.post("/api/skipthought/neighbours", json={"model": "tiny-char", "text": "Anna runs."})
    assert r.status_code == 422 and "tiny-skip" in r.json()["message"]
    assert st_client.get("/api/skipthought/map?model=tiny-char").status_code == 422
    assert st_client.get("/api/skipthought/map?model=nope").status_code == 404
    assert st_client.get("/api/skipthought/map").status_code == 422


def test_map_points_examples_and_metrics(st_client: TestClient, tiny: dict[str, Any]) -> None:
    r = st_client.get("/api/skipthought/map?model=tiny-skip")
    assert r.status_code == 200, r.text
    body = r.json()
    MapResponse.model_validate(body)
    points = body["points"]
    n = len(tiny["corpus"]["map"]["sentence"])
    assert all(len(points[k]) == n for k in ("x", "y", "script", "position", "length", "sentence"))
    assert all(0 <= p < length for p, length in zip(points["position"], points["length"], strict=True))
    assert [s["name"] for s in body["scripts"]] == list(stories.SCRIPTS)
    assert len(body["explained"]) == 2 and body["explained"][0] >= body["explained"][1]
    # The map and the route agree: a map point's sentence lands where the map drew it.
    one = post(st_client, text=points["sentence"][0]).json()
    assert one["projection"]["x"] == pytest.approx(points["x"][0], rel=1e-3, abs=1e-3)
    assert one["projection"]["y"] == pytest.approx(points["y"][0], rel=1e-3, abs=1e-3)
    # Examples: one held-out story per script, with the generator's flags.
    assert [e["script"] for e in body["examples"]] == list(stories.SCRIPTS)
    for e in body["examples"]:
        name = stories.tokenize(e["sentences"][0])[0]
        assert stories.is_held_out(e["script"], name)
        assert len(e["forced_next"]) == len(e["sentences"]) == len(e["forced_previous"])
    assert {"previous", "next"} <= set(body["metrics"]) and "summary" not in body["metrics"]
