"""POST /api/rnn/trace on a tiny untrained recall RNN: shapes, truth, weights, limits, error bodies."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from torch.nn import functional as F

from app.api.routes.rnn import TraceResponse
from app.checkpoints import Registry
from app.tasks import recall
from tests.recall_fixtures import HIDDEN, client_for, recall_registry_in

V, C = len(recall.vocab()), len(recall.SYMBOLS)


@pytest.fixture
def recall_registry(tmp_path: Path) -> Registry:
    return recall_registry_in(tmp_path)


@pytest.fixture
def recall_client(tmp_path: Path, recall_registry: Registry) -> Iterator[TestClient]:
    yield from client_for(tmp_path, recall_registry)


def post(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/rnn/trace", json={"model": "tiny-rnn", **body})


def test_trace_shapes_tokens_and_vocabularies(recall_client: TestClient) -> None:
    r = post(recall_client, text="C4071?")
    assert r.status_code == 200, r.text
    body = r.json()
    T = 6
    assert body["tokens"] == list("C4071?") and body["unknown"] == []
    assert body["vocab"] == list(recall.vocab().tokens) and body["classes"] == list(recall.SYMBOLS)
    assert body["ids"] == recall.vocab().encode("C4071?").ids
    assert body["hidden_size"] == HIDDEN and body["nonlinearity"] == "tanh"
    assert body["delays"] == [5, 20] and body["delay"] is None
    shapes = {
        "from_input": HIDDEN,
        "recurrent": HIDDEN,
        "hidden": HIDDEN,
        "without_memory": HIDDEN,
        "logits": C,
        "probs": C,
    }
    for key, width in shapes.items():
        assert len(body[key]) == T and all(len(row) == width for row in body[key]), key
    for row in body["probs"]:
        assert sum(row) == pytest.approx(1.0, abs=1e-3)
    assert len(body["head"]["weight"]) == C and len(body["head"]["bias"]) == C
    assert body["detail"] is None
    TraceResponse.model_validate(body)  # the declared response_model is accurate
    TraceResponse.model_validate(post(recall_client, text="C4071?", unit=1).json())


@pytest.mark.parametrize("delay", [None, 5, 20])
def test_values_equal_nn_rnn_with_the_chosen_weights(
    recall_client: TestClient, recall_registry: Registry, delay: int | None
) -> None:
    text = "H90210?"
    body = post(recall_client, text=text, delay=delay, unit=2, full_precision=True).json()
    entry = recall_registry.get("tiny-rnn")
    assert entry is not None
    net = entry.net if delay is None else entry.variant_net(str(delay))
    ids = torch.tensor(recall.vocab().encode(text).ids)
    with torch.no_grad():
        out, _ = net.rnn(F.one_hot(ids, V).float()[:, None])  # torch.nn.RNN itself
        logits = net.head(out[:, 0])
    assert torch.allclose(torch.tensor(body["hidden"]), out[:, 0], atol=1e-5, rtol=0)
    assert torch.allclose(torch.tensor(body["logits"]), logits, atol=1e-5, rtol=0)
    assert body["delay"] == delay
    # The equations of unit 2 add up: h = tanh(W_hh[j]·h_{t−1} + b_hh + W_ih[j, x_t] + b_ih).
    d = body["detail"]
    assert d["unit"] == 2 and len(d["w_hh"]) == HIDDEN and len(d["w_ih"]) == V
    prev = [0.0] * HIDDEN
    for t, token_id in enumerate(body["ids"]):
        recurrent = sum(w * h for w, h in zip(d["w_hh"], prev, strict=True)) + d["b_hh"]
        from_input = d["w_ih"][token_id] + d["b_ih"]
        assert body["recurrent"][t][2] == pytest.approx(recurrent, abs=1e-5)
        assert body["from_input"][t][2] == pytest.approx(from_input, abs=1e-5)
        assert body["hidden"][t][2] == pytest.approx(math.tanh(recurrent + from_input), abs=1e-5)
        assert body["without_memory"][t][2] == pytest.approx(math.tanh(from_input + d["b_hh"]), abs=1e-5)
        prev = body["hidden"][t]
    # And the output: y = softmax(V·h + c).
    z = [
        sum(v * h for v, h in zip(row, body["hidden"][-1], strict=True)) + c
        for row, c in zip(body["head"]["weight"], body["head"]["bias"], strict=True)
    ]
    assert body["logits"][-1] == pytest.approx(z, abs=1e-5)


def test_delays_give_different_weights_and_rounding_is_4_digits(recall_client: TestClient) -> None:
    a = post(recall_client, text="A12?", delay=5).json()
    b = post(recall_client, text="A12?", delay=20).json()
    assert a["hidden"] != b["hidden"]
    exact = post(recall_client, text="A12?", delay=5, full_precision=True).json()
    for rounded, full in zip(a["hidden"], exact["hidden"], strict=True):
        for x, y in zip(rounded, full, strict=True):
            assert float(f"{y:.4g}") == pytest.approx(x, rel=1e-6, abs=1e-12)


def test_tokens_input_equals_text_input(recall_client: TestClient) -> None:
    a = post(recall_client, text="D555?").json()
    b = post(recall_client, tokens=list("D555?")).json()
    assert a["hidden"] == b["hidden"] and a["tokens"] == b["tokens"]


def test_any_text_is_traced_with_unknown_characters_marked(recall_client: TestClient) -> None:
    text = "hi \U0001f600\x00C1?"
    body = post(recall_client, text=text).json()
    assert body["tokens"] == list(text)
    assert body["unknown"] == [0, 1, 2, 3, 4]
    assert body["ids"][:5] == [0] * 5  # the unknown token's one-hot position


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"text": ""}, 422, ["text", "empty"]),
        ({"text": "a" * 2001}, 422, ["2001", "2000"]),
        ({"tokens": ["a"] * 2001}, 422, ["2001", "2000", "tokens"]),
        ({"tokens": ["a", ""]}, 422, ["tokens[1]"]),
        ({"tokens": ["a", "x" * 33]}, 422, ["tokens[1]", "33"]),
        ({"tokens": "abc"}, 422, ["tokens"]),
        ({}, 422, ["text or as tokens"]),
        ({"text": "a", "tokens": ["a"]}, 422, ["exactly one"]),
        ({"text": 5}, 422, ["text", "string"]),
        ({"text": "a", "unit": HIDDEN}, 422, ["unit", str(HIDDEN)]),
        ({"text": "a", "unit": -1}, 422, ["unit"]),
        ({"text": "a", "delay": 7}, 422, ["delay", "7", "5, 20"]),
        ({"text": "a", "delay": "soon"}, 422, ["delay"]),
        ({"text": "a", "delay": 10**30}, 422, ["delay"]),
        ({"text": "a", "bogus": 1}, 422, ["bogus"]),
        ({"text": "a", "full_precision": 0}, 422, ["full_precision"]),
        ({"text": "a", "unit": True}, 422, ["unit"]),
        ({"text": "a", "delay": "5"}, 422, ["delay"]),
        ({"text": "a", "model": "nope"}, 404, ["nope", "tiny-rnn"]),
        ({"text": "a", "model": "tiny-char"}, 422, ["tiny-char", "tiny-rnn"]),
        ({"text": "a", "model": "tiny-lstm"}, 422, ["tiny-lstm"]),
    ],
)
def test_bad_input_is_a_readable_4xx(
    recall_client: TestClient, body: dict[str, object], status: int, words: list[str]
) -> None:
    r = recall_client.post("/api/rnn/trace", json={"model": "tiny-rnn", **body})
    assert r.status_code == status, r.text
    message = r.json()["message"]
    for word in words:
        assert word in message, (word, message)
    assert post(recall_client, text="still fine").status_code == 200


def test_unavailable_model_is_409(recall_client: TestClient, recall_registry: Registry) -> None:
    entry = recall_registry.get("tiny-rnn")
    assert entry is not None
    entry.available, entry.reason = False, "tiny-rnn.pt: truncated"
    r = post(recall_client, text="a")
    assert r.status_code == 409 and "truncated" in r.json()["message"]
