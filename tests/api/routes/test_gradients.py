"""POST /api/gradients on tiny untrained recall nets: the net's own gradients, limits, error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.api.routes.gradients import GradientResponse
from app.checkpoints import Registry
from app.tasks import recall
from tests.recall_fixtures import client_for, recall_registry_in

SEQUENCE = "C" + "31415926535897932384" + "?"  # delay 20


@pytest.fixture
def recall_registry(tmp_path: Path) -> Registry:
    return recall_registry_in(tmp_path)


@pytest.fixture
def recall_client(tmp_path: Path, recall_registry: Registry) -> Iterator[TestClient]:
    yield from client_for(tmp_path, recall_registry)


def post(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/gradients", json={"model": "tiny-rnn", "delay": 20, "sequence": SEQUENCE, **body}
    )


@pytest.mark.parametrize("model,cell", [("tiny-rnn", "rnn"), ("tiny-lstm", "lstm")])
def test_shapes_and_fields(recall_client: TestClient, model: str, cell: str) -> None:
    r = post(recall_client, model=model)
    assert r.status_code == 200, r.text
    body = r.json()
    GradientResponse.model_validate(body)
    T = len(SEQUENCE)
    assert body["cell"] == cell and body["delay"] == 20 and body["weights"] == "trained"
    assert body["tokens"] == list(SEQUENCE) and body["target"] == "C"
    assert len(body["grad_norm_h"]) == T and len(body["saturation"]) == T
    assert all(g > 0 for g in body["grad_norm_h"])
    assert all(0 <= s <= 1 for s in body["saturation"])
    assert body["accuracy"] == pytest.approx(0.6)  # the tiny fixture's stored metric for T = 20
    assert sum(body["probs"]) == pytest.approx(1.0, abs=1e-3) and body["classes"] == list(recall.SYMBOLS)
    if cell == "lstm":
        assert len(body["grad_norm_c"]) == T and len(body["forget_product"]) == T
        assert body["forget_product"][-1] == 1.0
        assert all(0 <= p <= 1 for p in body["forget_product"])
    else:
        assert body["grad_norm_c"] is None and body["forget_product"] is None


@pytest.mark.parametrize("weights,key", [("trained", "state_dict"), ("initial", "initial_state_dict")])
def test_values_are_the_chosen_weights_gradients(
    recall_client: TestClient, recall_registry: Registry, weights: str, key: str
) -> None:
    body = post(recall_client, model="tiny-lstm", delay=5, weights=weights, full_precision=True).json()
    entry = recall_registry.get("tiny-lstm")
    assert entry is not None
    net = entry.variant_net("5", key)
    ids = torch.tensor(recall.vocab().encode(SEQUENCE).ids)
    flow = net.gradient_flow(ids, recall.SYMBOLS.index("C"))
    assert body["grad_norm_h"] == pytest.approx(flow.grad_hidden.tolist(), rel=1e-12)
    assert body["grad_norm_c"] == pytest.approx(flow.grad_cell.tolist(), rel=1e-12)
    assert body["loss"] == pytest.approx(flow.loss)
    other = post(
        recall_client, model="tiny-lstm", delay=5, weights="initial" if weights == "trained" else "trained"
    ).json()
    assert other["grad_norm_h"] != pytest.approx(body["grad_norm_h"], rel=1e-3)


def test_tiny_gradients_are_not_flushed_to_zero(recall_client: TestClient) -> None:
    """Values below float32's range survive the 4-digit rounding (it stays float64)."""
    long = "A" + "0" * 400 + "?"
    body = post(recall_client, sequence=long).json()
    g = body["grad_norm_h"]
    assert min(g) > 0 and min(g) < 1e-40, min(g)
    exact = post(recall_client, sequence=long, full_precision=True).json()["grad_norm_h"]
    for a, b in zip(g, exact, strict=True):
        assert a == pytest.approx(b, rel=1e-3)


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"sequence": ""}, 422, ["sequence", "empty"]),
        ({"sequence": "A" + "1" * 600 + "?"}, 422, ["602", "500"]),
        ({"sequence": "a12?"}, 422, ["start", "symbol"]),
        ({"sequence": "A12"}, 422, ["end", "?"]),
        ({"sequence": "A1x2?"}, 422, ["character 2", "digits"]),
        ({"sequence": "A1😀?"}, 422, ["character 2"]),
        ({"sequence": "?"}, 422, ["symbol"]),
        ({"sequence": 12}, 422, ["sequence", "string"]),
        ({"delay": 7}, 422, ["delay", "7", "5, 20"]),
        ({"delay": -1}, 422, ["delay"]),
        ({"delay": None}, 422, ["delay"]),
        ({"weights": "best"}, 422, ["weights"]),
        ({"bogus": 1}, 422, ["bogus"]),
        ({"full_precision": 0}, 422, ["full_precision"]),
        ({"delay": "20"}, 422, ["delay"]),
        ({"delay": 20.5}, 422, ["delay"]),
        ({"model": "nope"}, 404, ["nope", "tiny-rnn", "tiny-lstm"]),
        ({"model": "tiny-char"}, 422, ["tiny-char", "tiny-lstm"]),
    ],
)
def test_bad_input_is_a_readable_4xx(
    recall_client: TestClient, body: dict[str, object], status: int, words: list[str]
) -> None:
    r = post(recall_client, **body)
    assert r.status_code == status, r.text
    message = r.json()["message"]
    for word in words:
        assert word in message, (word, message)
    assert post(recall_client).status_code == 200


def test_missing_fields_are_named(recall_client: TestClient) -> None:
    r = recall_client.post("/api/gradients", json={"model": "tiny-rnn"})
    assert r.status_code == 422
    assert "delay" in r.json()["message"] and "sequence" in r.json()["message"]


def test_unavailable_model_is_409(recall_client: TestClient, recall_registry: Registry) -> None:
    entry = recall_registry.get("tiny-lstm")
    assert entry is not None
    entry.available, entry.reason = False, "tiny-lstm.pt: truncated"
    r = post(recall_client, model="tiny-lstm")
    assert r.status_code == 409 and "truncated" in r.json()["message"]
