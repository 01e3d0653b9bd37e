"""POST /api/decode/beam on tiny untrained nets: the tree's invariants as the API returns them,
greedy's overlay, true probabilities for the idioms grammar, snapshots, limits and error bodies."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.routes.decode import BeamResponse
from app.checkpoints import Registry, save
from app.config import Settings
from app.main import create_app
from app.recipes.idioms import vocabs
from app.tasks import idioms
from tests.conftest import make_checkpoint, tiny_char_lm_checkpoint, tiny_seq2seq_checkpoint


def tiny_idioms_checkpoint() -> dict[str, Any]:
    source, target = vocabs()
    config = {
        "source_vocab_size": len(source),
        "target_vocab_size": len(target),
        "embed_size": 8,
        "hidden_size": 6,
        "decoder_size": 10,
        "attention_size": 5,
        "attention": True,
        "pad_id": target.special_id("pad"),
        "bos_id": target.special_id("bos"),
        "eos_id": target.special_id("eos"),
    }
    vocab = {"source": source.to_dict(), "target": target.to_dict()}
    return make_checkpoint("tiny-idioms", "seq2seq", config, vocab, task="idioms")


@pytest.fixture
def beam_client(tmp_path: Path) -> Iterator[TestClient]:
    d = tmp_path / "models"
    save(tiny_seq2seq_checkpoint("tiny-dates"), d / "tiny-dates.pt")
    save(tiny_seq2seq_checkpoint("tiny-plain", attention=False, snapshots=0), d / "tiny-plain.pt")
    save(tiny_idioms_checkpoint(), d / "tiny-idioms.pt")
    save(tiny_char_lm_checkpoint(), d / "tiny-char.pt")
    settings = Settings(models_dir=d, upload_dir=tmp_path / "uploads", max_beam_width=8, max_decode_length=20)
    with TestClient(create_app(settings, Registry.from_paths(d))) as c:
        yield c


def post(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/decode/beam", json={"model": "tiny-dates", "text": "27 nov 2026", **body})


def check_tree(body: dict[str, Any], rel: float = 1e-6) -> None:
    """The invariants of the issue, checked on the JSON the page receives (float32 in JSON: `rel`)."""

    def near(x: float) -> Any:
        return pytest.approx(x, abs=1e-5, rel=rel)

    k = body["beam_width"]
    V = body["vocab_size"]
    per_beam = min(2 * k, V)
    by_id: dict[int, dict[str, Any]] = {}
    live = 1
    for t, step in enumerate(body["steps"]):
        assert step["step"] == t
        cands = step["candidates"]
        assert len(cands) == live * per_beam, "each live beam proposes its top 2k tokens"
        scores = [c["score"] for c in cands]
        assert scores == sorted(scores, reverse=True), "ranked by score"
        for j, c in enumerate(cands):
            assert c["kept"] == (j < k), "kept = the top k by score"
            assert c["finished"] == (c["kept"] and c["token"] == "<eos>")
            assert c["pruned_rank"] == (None if c["kept"] else j + 1)
            if t == 0:
                assert c["parent"] is None
                assert c["logprob"] == near(c["token_logprob"])
            else:
                parent = by_id[c["parent"]]
                assert parent["step"] == t - 1 and parent["kept"] and not parent["finished"]
                assert c["logprob"] == near(parent["logprob"] + c["token_logprob"])
            lp = ((5 + t + 1) / 6) ** body["length_penalty"]
            assert c["score"] == near(c["logprob"] / lp)
            by_id[c["id"]] = {**c, "step": t}
        live = sum(1 for c in cands if c["kept"] and not c["finished"])
    hyps = body["hypotheses"]
    assert 1 <= len(hyps) <= body["n_best"]
    assert [h["score"] for h in hyps] == sorted((h["score"] for h in hyps), reverse=True)
    for h in hyps:  # each hypothesis is a path of the tree
        path = []
        node = h["node"]
        while node is not None:
            path.append(by_id[node]["token"])
            node = by_id[node]["parent"]
        assert path[::-1] == h["tokens"]
        assert h["finished"] == (h["tokens"][-1] == "<eos>")
        assert h["logprob"] == near(by_id[h["node"]]["logprob"])


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_the_tree_keeps_its_invariants(beam_client: TestClient, k: int, alpha: float) -> None:
    r = post(beam_client, beam_width=k, length_penalty=alpha, full_precision=True)
    assert r.status_code == 200, r.text
    body = r.json()
    BeamResponse.model_validate(body)
    assert body["source_tokens"] == list("27 nov 2026") and body["unknown"] == []
    assert body["max_length"] == 20 and body["n_best"] == k and body["target_level"] == "char"
    assert body["stop_reason"] in ("all ended", "n-best complete", "max_length")
    check_tree(body)
    assert body["true_best"] is None and body["grammar"] is None
    assert all(h["true_prob"] is None for h in body["hypotheses"])


def test_width_one_is_greedy_and_greedy_is_overlaid(beam_client: TestClient) -> None:
    body = post(beam_client, beam_width=1, full_precision=True).json()
    best, g = body["hypotheses"][0], body["greedy"]
    assert best["tokens"] == g["tokens"] and best["logprob"] == pytest.approx(g["logprob"], abs=1e-5)
    assert None not in g["nodes"], "with k = 1 greedy's path is the beam"
    assert g["nodes"][-1] == best["node"]
    assert sum(g["token_logprobs"]) == pytest.approx(g["logprob"], abs=1e-4)
    wide = post(beam_client, beam_width=6, full_precision=True).json()
    ids = {c["id"]: c for s in wide["steps"] for c in s["candidates"]}
    prev = None
    for tok, node in zip(wide["greedy"]["tokens"], wide["greedy"]["nodes"], strict=True):
        if node is None:
            break
        assert ids[node]["token"] == tok and ids[node]["parent"] == prev
        prev = node


def test_n_best_and_rounding(beam_client: TestClient) -> None:
    body = post(beam_client, beam_width=4, n_best=2).json()
    assert body["n_best"] == 2 and len(body["hypotheses"]) <= 2
    full = post(beam_client, beam_width=4, n_best=2, full_precision=True).json()
    for a, b in zip(body["steps"][1]["candidates"], full["steps"][1]["candidates"], strict=True):
        for key in ("token_logprob", "logprob", "score"):
            assert a[key] == float(f"{b[key]:.4g}"), key
    check_tree(body, rel=1.5e-3)


def test_true_probabilities_for_the_idioms_grammar(beam_client: TestClient) -> None:
    text = "mirar pasear"
    body = post(beam_client, model="tiny-idioms", text=text, beam_width=4, full_precision=True).json()
    BeamResponse.model_validate(body)
    assert body["task"] == "idioms" and body["target_level"] == "word"
    assert body["source_tokens"] == ["mirar", "pasear"]
    assert body["true_best"] == {
        "tokens": ["look", "walk", "<eos>"],
        "text": "look walk",
        "prob": pytest.approx(0.16),
    }
    assert len(body["grammar"]["lexicon"]) == 16 and body["grammar"]["p_literal"] == 0.4
    for h in [*body["hypotheses"], body["greedy"]]:
        expected = idioms.true_probability(text, h["tokens"]) if h["finished"] else None
        assert h["true_prob"] == (pytest.approx(expected) if expected is not None else None)
        assert h["text"] == " ".join(t for t in h["tokens"] if t != "<eos>")
    check_tree(body)
    unknown = post(beam_client, model="tiny-idioms", text="mirar volar").json()
    assert unknown["unknown"] == [1] and unknown["true_best"] is None
    assert "volar" in unknown["grammar_note"]
    assert all(h["true_prob"] is None for h in unknown["hypotheses"])


def test_snapshots_and_models_without_attention(beam_client: TestClient) -> None:
    final = post(beam_client, full_precision=True).json()
    snap = post(beam_client, snapshot=0, full_precision=True).json()
    assert snap["snapshot"] == 0 and snap["snapshot_step"] == 10 and final["snapshot_step"] is None
    assert [s["step"] for s in snap["snapshots"]] == [10, 20, 30]
    assert snap["steps"][0]["candidates"][0]["logprob"] != final["steps"][0]["candidates"][0]["logprob"]
    plain = post(beam_client, model="tiny-plain", beam_width=3, full_precision=True).json()
    check_tree(plain)


def test_max_length_ends_unfinished(beam_client: TestClient) -> None:
    body = post(beam_client, beam_width=3, max_length=2, full_precision=True).json()
    assert len(body["steps"]) <= 2
    if body["stop_reason"] == "max_length":
        assert any(not h["finished"] for h in body["hypotheses"])
    for h in body["hypotheses"]:
        assert len(h["tokens"]) <= 2


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"text": ""}, 422, ["text", "empty"]),
        ({"text": "   ", "model": "tiny-idioms"}, 422, ["text", "no tokens"]),
        ({"text": "1" * 201}, 422, ["201", "200"]),
        ({"beam_width": 9}, 422, ["beam_width", "9", "8"]),
        ({"beam_width": 0}, 422, ["beam_width"]),
        ({"beam_width": 10**30}, 422, ["beam_width"]),
        ({"beam_width": "5"}, 422, ["beam_width"]),
        ({"beam_width": 2.5}, 422, ["beam_width"]),
        ({"max_length": 21}, 422, ["max_length", "21", "20"]),
        ({"max_length": 0}, 422, ["max_length"]),
        ({"length_penalty": -0.1}, 422, ["length_penalty"]),
        ({"length_penalty": 2.5}, 422, ["length_penalty", "2"]),
        ({"length_penalty": "big"}, 422, ["length_penalty"]),
        ({"n_best": 0}, 422, ["n_best"]),
        ({"beam_width": 3, "n_best": 4}, 422, ["n_best", "4", "beam_width is 3"]),
        ({"snapshot": 3}, 422, ["snapshot", "3", "0 to 2"]),
        ({"snapshot": 0, "model": "tiny-plain"}, 422, ["snapshot", "no training snapshots"]),
        ({"model": "tiny-char"}, 422, ["tiny-char", "tiny-dates"]),
        ({"model": "nope"}, 404, ["nope"]),
        ({"bogus": 1}, 422, ["bogus"]),
    ],
)
def test_bad_input_is_a_readable_4xx(
    beam_client: TestClient, body: dict[str, Any], status: int, words: list[str]
) -> None:
    r = post(beam_client, **body)
    assert r.status_code == status, r.text
    message = r.json()["message"]
    for word in words:
        assert word in message, (word, message)
    assert post(beam_client).status_code == 200


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_length_penalty_is_refused(beam_client: TestClient, raw: bytes) -> None:
    body = b'{"model": "tiny-dates", "text": "1", "length_penalty": ' + raw + b"}"
    r = beam_client.post("/api/decode/beam", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert "length_penalty" in r.json()["message"] or "JSON" in r.json()["message"]


def test_unknown_characters_and_emoji_are_decoded_never_a_500(beam_client: TestClient) -> None:
    r = post(beam_client, text="27 nov 2026 \U0001f600\x00")
    assert r.status_code == 200
    body = r.json()
    assert len(body["unknown"]) == 2 and math.isfinite(body["hypotheses"][0]["logprob"])
