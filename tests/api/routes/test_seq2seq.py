"""POST /api/seq2seq/translate on tiny untrained nets: shapes, the attention maths, hard mode,
snapshots, limits and error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.api.routes.seq2seq import TranslateResponse
from app.checkpoints import Registry, save
from app.config import Settings
from app.main import create_app
from app.nets.seq2seq import Seq2Seq
from app.tasks.vocab import Vocab
from tests.conftest import tiny_char_lm_checkpoint, tiny_seq2seq_checkpoint


@pytest.fixture
def seq_registry(tmp_path: Path) -> Registry:
    d = tmp_path / "models"
    save(tiny_seq2seq_checkpoint("tiny-dates"), d / "tiny-dates.pt")
    save(tiny_seq2seq_checkpoint("tiny-plain", attention=False, snapshots=0), d / "tiny-plain.pt")
    save(tiny_char_lm_checkpoint(), d / "tiny-char.pt")
    return Registry.from_paths(d)


@pytest.fixture
def seq_client(tmp_path: Path, seq_registry: Registry) -> Iterator[TestClient]:
    settings = Settings(models_dir=tmp_path / "models", upload_dir=tmp_path / "uploads")
    with TestClient(create_app(settings, seq_registry)) as c:
        yield c


def post(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/seq2seq/translate", json={"model": "tiny-dates", **body})


def test_shapes_rows_sum_to_one_and_the_response_matches_its_schema(seq_client: TestClient) -> None:
    text = "27 nov 2026"
    r = post(seq_client, text=text)
    assert r.status_code == 200, r.text
    body = r.json()
    TranslateResponse.model_validate(body)
    T_in, T_out = len(text), len(body["output_tokens"])
    assert body["source_tokens"] == list(text) and body["unknown"] == []
    assert 1 <= T_out <= body["max_length"]
    assert body["has_attention"] is True and body["snapshot"] is None
    assert [s["step"] for s in body["snapshots"]] == [10, 20, 30]
    assert body["snapshots"][1]["metrics"] == {"exact": 0.1}
    for key in ("attention", "energies"):
        assert len(body[key]) == T_out and all(len(row) == T_in for row in body[key]), key
    for row in body["attention"]:
        assert sum(row) == pytest.approx(1.0, abs=1e-3)  # rounded to 4 digits
    contributions = body["context_contributions"]
    assert len(contributions["encoder_states"]) == T_in and len(contributions["encoder_states"][0]) == 12
    assert len(contributions["context"]) == T_out
    for row in contributions["share"]:
        assert len(row) == T_in and sum(row) == pytest.approx(1.0, abs=1e-3)
    assert len(body["fixed_context"]) == 12
    assert len(body["top_next"]) == T_out and all(len(row) == 5 for row in body["top_next"])
    specials = {"<pad>", "<bos>", "<eos>", "<unk>"}
    assert body["output_text"] == "".join(t for t in body["output_tokens"] if t not in specials)
    assert body["finished"] == (body["output_tokens"][-1] == "<eos>")
    assert body["hard"] is None


def test_context_is_the_alpha_weighted_sum_of_encoder_states(
    seq_client: TestClient, seq_registry: Registry
) -> None:
    text = "1. Jan 1999"
    body = post(seq_client, text=text, full_precision=True).json()
    alpha = torch.tensor(body["attention"], dtype=torch.float64)
    states = torch.tensor(body["context_contributions"]["encoder_states"], dtype=torch.float64)
    context = torch.tensor(body["context_contributions"]["context"], dtype=torch.float64)
    assert torch.allclose(alpha @ states, context, atol=1e-5)
    shares = torch.tensor(body["context_contributions"]["share"], dtype=torch.float64)
    projected = ((alpha[:, :, None] * states[None]) * context[:, None, :]).sum(-1)
    assert torch.allclose(shares, projected / (context * context).sum(-1, keepdim=True), atol=1e-4)
    # energies → softmax → α, and the net's own encoder gives the same states
    energies = torch.tensor(body["energies"], dtype=torch.float64)
    assert torch.allclose(torch.softmax(energies, -1), alpha, atol=1e-5)
    entry = seq_registry.get("tiny-dates")
    assert entry is not None and isinstance(entry.net, Seq2Seq)
    ids = Vocab.from_dict(entry.checkpoint["vocab"]["source"]).encode(text).ids
    memory = entry.net.encode(torch.tensor(ids))
    assert torch.allclose(memory.states[0].double(), states, atol=1e-6)


def test_rounded_values_are_the_full_ones_to_4_significant_digits(seq_client: TestClient) -> None:
    rounded = post(seq_client, text="2026-11-27").json()
    exact = post(seq_client, text="2026-11-27", full_precision=True).json()
    for a_row, b_row in zip(rounded["energies"], exact["energies"], strict=True):
        for a, b in zip(a_row, b_row, strict=True):
            assert a == pytest.approx(float(f"{b:.4g}"), rel=1e-6, abs=1e-12)
    assert rounded["output_tokens"] == exact["output_tokens"]


def test_hard_attention_is_seeded_and_counts_differences(seq_client: TestClient) -> None:
    body = post(seq_client, text="27.11.2026", attention_mode="hard", samples=12, seed=3).json()
    again = post(seq_client, text="27.11.2026", attention_mode="hard", samples=12, seed=3).json()
    assert body["hard"] == again["hard"]
    hard = body["hard"]
    assert hard["samples"] == 12 and len(hard["runs"]) == 12 and hard["seed"] == 3
    T_in = len("27.11.2026")
    for run in hard["runs"]:
        assert len(run["positions"]) == len(run["output_tokens"]) == len(run["weights"])
        assert all(0 <= j < T_in for j in run["positions"])
        for row, j in zip(run["weights"], run["positions"], strict=True):
            assert sum(row) == pytest.approx(1.0, abs=1e-3) and row[j] > 0
        assert run["same_as_soft"] == (run["output_text"] == body["output_text"])
    assert hard["differ"] == sum(not run["same_as_soft"] for run in hard["runs"])
    assert hard["differ_fraction"] == pytest.approx(hard["differ"] / 12)
    assert sum(o["count"] for o in hard["outputs"]) == 12
    assert [o["count"] for o in hard["outputs"]] == sorted(
        (o["count"] for o in hard["outputs"]), reverse=True
    )
    # the soft trace is unchanged by hard mode
    soft = post(seq_client, text="27.11.2026").json()
    assert soft["output_tokens"] == body["output_tokens"] and soft["attention"] == body["attention"]
    other = post(seq_client, text="27.11.2026", attention_mode="hard", samples=12, seed=4).json()
    assert [r["positions"] for r in other["hard"]["runs"]] != [r["positions"] for r in hard["runs"]]


def test_snapshots_use_their_own_weights(seq_client: TestClient) -> None:
    final = post(seq_client, text="3 mar 1961").json()
    first = post(seq_client, text="3 mar 1961", snapshot=0).json()
    assert first["snapshot"] == 0 and first["snapshot_step"] == 10
    assert first["energies"] != final["energies"]
    last = post(seq_client, text="3 mar 1961", snapshot=2).json()
    assert last["snapshot_step"] == 30  # the last fake snapshot holds the final weights (in float16)
    assert last["energies"][0] == pytest.approx(final["energies"][0], rel=1e-2, abs=1e-2)


def test_model_without_attention(seq_client: TestClient) -> None:
    body = post(seq_client, model="tiny-plain", text="abc").json()
    TranslateResponse.model_validate(body)
    assert body["has_attention"] is False
    assert body["attention"] is None and body["energies"] is None and body["context_contributions"] is None
    assert len(body["fixed_context"]) == 12 and body["snapshots"] == []


def test_unknown_characters_are_marked_never_a_500(seq_client: TestClient) -> None:
    text = "27\u00e9\U0001f600\x00<eos>\u4e2d"
    r = post(seq_client, text=text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source_tokens"] == list(text)
    assert body["unknown"] == [2, 3, 4, 5, 9, 10]  # é 😀 NUL < > 中 (e, o, s typed are known)


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"text": ""}, 422, ["text", "empty"]),
        ({"text": "1" * 201}, 422, ["201", "200"]),
        ({"text": 5}, 422, ["text", "string"]),
        ({}, 422, ["text", "required"]),
        ({"text": "1", "attention_mode": "sharp"}, 422, ["attention_mode"]),
        ({"text": "1", "attention_mode": "hard", "samples": 51}, 422, ["samples", "51", "50"]),
        ({"text": "1", "attention_mode": "hard", "samples": 10**30}, 422, ["samples", "50"]),
        ({"text": "1", "samples": 0}, 422, ["samples"]),
        ({"text": "1", "seed": -1}, 422, ["seed"]),
        ({"text": "1", "snapshot": 3}, 422, ["snapshot", "3", "0 to 2"]),
        ({"text": "1", "snapshot": -1}, 422, ["snapshot"]),
        ({"text": "1", "snapshot": 0, "model": "tiny-plain"}, 422, ["snapshot", "no training snapshots"]),
        ({"text": "1", "attention_mode": "hard", "model": "tiny-plain"}, 422, ["hard", "no attention"]),
        ({"text": "1", "model": "tiny-char"}, 422, ["tiny-char", "tiny-dates"]),
        ({"text": "1", "model": "nope"}, 404, ["nope", "tiny-dates", "tiny-plain"]),
        ({"text": "1", "bogus": 1}, 422, ["bogus"]),
    ],
)
def test_bad_input_is_a_readable_4xx(
    seq_client: TestClient, body: dict[str, object], status: int, words: list[str]
) -> None:
    r = seq_client.post("/api/seq2seq/translate", json={"model": "tiny-dates", **body})
    assert r.status_code == status, r.text
    message = r.json()["message"]
    for word in words:
        assert word in message, (word, message)
    assert post(seq_client, text="still fine").status_code == 200


def test_unavailable_model_is_409(seq_client: TestClient, seq_registry: Registry) -> None:
    entry = seq_registry.get("tiny-dates")
    assert entry is not None
    entry.available, entry.reason = False, "tiny-dates.pt: truncated"
    r = post(seq_client, text="1")
    assert r.status_code == 409 and "truncated" in r.json()["message"]
