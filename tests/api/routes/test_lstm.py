"""POST /api/lstm/trace on a tiny untrained char LM: shapes, truth, limits and error bodies."""

from __future__ import annotations

import math

import pytest
import torch
from fastapi.testclient import TestClient

from app.checkpoints import Registry
from app.nets.char_lm import CharLM
from app.tasks.vocab import Vocab


def post(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/lstm/trace", json={"model": "tiny-char", **body})


def test_trace_shapes_and_tokens(client: TestClient) -> None:
    r = post(client, text="hello, world")
    assert r.status_code == 200, r.text
    body = r.json()
    T, H = len("hello, world"), 16
    assert body["tokens"] == list("hello, world") and body["unknown"] == []
    assert body["hidden_size"] == H and body["num_layers"] == 1 and body["bidirectional"] is False
    (layer,) = body["layers"]
    for q in ("forget", "input", "candidate", "output", "cell", "hidden"):
        assert len(layer[q]) == T and all(len(row) == H for row in layer[q]), q
    assert len(body["top_next"]) == T and all(len(row) == 5 for row in body["top_next"])
    for row in body["top_next"]:
        probs = [p["prob"] for p in row]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert body["detail"] is None


def test_values_are_the_networks_rounded_to_4_significant_digits(
    client: TestClient, registry: Registry
) -> None:
    text = "to be or not"
    body = post(client, text=text).json()
    exact = post(client, text=text, full_precision=True).json()
    entry = registry.get("tiny-char")
    assert entry is not None
    net = entry.net
    assert isinstance(net, CharLM)
    ids = torch.tensor(Vocab.from_dict(entry.checkpoint["vocab"]).encode(text).ids)
    with torch.no_grad():
        out, _ = net.lstm(net.embed(ids)[:, None])
    hidden = torch.tensor(exact["layers"][0]["hidden"])
    assert torch.allclose(hidden, out[:, 0], atol=1e-6)
    for rounded, full in zip(body["layers"][0]["cell"], exact["layers"][0]["cell"], strict=True):
        for a, b in zip(rounded, full, strict=True):
            assert float(f"{b:.4g}") == pytest.approx(a, rel=1e-6, abs=1e-12)


def test_unit_detail_adds_up(client: TestClient) -> None:
    body = post(client, text="abc abc", unit=3, full_precision=True).json()
    d = body["detail"]
    assert d["unit"] == 3 and d["layer"] == 0 and d["direction"] == 0
    layer = body["layers"][0]
    for t in range(7):
        for gate, fn in (
            ("forget", "sig"),
            ("input", "sig"),
            ("output", "sig"),
            ("candidate", "tanh"),
        ):
            pre = d["pre"][gate][t]
            assert pre == pytest.approx(
                d["recurrent"][gate][t] + d["from_input"][gate][t] + d["bias"][gate], abs=1e-5
            )
            value = 1 / (1 + math.exp(-pre)) if fn == "sig" else math.tanh(pre)
            assert layer[gate][t][3] == pytest.approx(value, abs=1e-5)


def test_unknown_characters_are_traced_and_marked(client: TestClient) -> None:
    text = "a\u00e9\U0001f600\u4e2d\x00\x07z"
    r = post(client, text=text)
    assert r.status_code == 200
    body = r.json()
    assert body["tokens"] == list(text)
    assert body["unknown"] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"text": ""}, 422, ["text", "empty"]),
        ({"text": "a" * 2001}, 422, ["2001", "2000"]),
        ({"text": 5}, 422, ["text", "string"]),
        ({}, 422, ["text", "required"]),
        ({"text": "a", "unit": 16}, 422, ["unit", "16"]),
        ({"text": "a", "unit": -1}, 422, ["unit"]),
        ({"text": "a", "layer": 2, "unit": 0}, 422, ["layer"]),
        ({"text": "a", "direction": 1, "unit": 0}, 422, ["direction"]),
        ({"text": "a", "bogus": 1}, 422, ["bogus"]),
        ({"text": "a", "model": "nope"}, 404, ["nope", "tiny-char"]),
    ],
)
def test_bad_input_is_a_readable_4xx(
    client: TestClient, body: dict[str, object], status: int, words: list[str]
) -> None:
    r = client.post("/api/lstm/trace", json={"model": "tiny-char", **body})
    assert r.status_code == status, r.text
    message = r.json()["message"]
    for word in words:
        assert word in message, (word, message)
    assert post(client, text="still fine").status_code == 200


def test_unavailable_model_is_409(client: TestClient, registry: Registry) -> None:
    entry = registry.get("tiny-char")
    assert entry is not None
    entry.available, entry.reason = False, "tiny-char.pt: truncated"
    r = post(client, text="a")
    assert r.status_code == 409 and "truncated" in r.json()["message"]


def test_a_200_character_trace_stays_under_400_kb_gzipped(shipped: Registry) -> None:
    """The serialisation budget of the design, on the shipped model (sizes are deterministic)."""
    import gzip

    from app.api.encoding import dumps
    from app.api.routes.lstm import TraceRequest, _trace
    from app.config import Settings
    from app.tasks.shakespeare import split
    from tests.conftest import shipped_entry

    entry = shipped_entry(shipped, "shakespeare-char")
    text = split()[1][3000:3200]
    content = _trace(TraceRequest(model="shakespeare-char", text=text, unit=0), entry, Settings())
    assert len(gzip.compress(dumps(content), compresslevel=5)) <= 400 * 1024
