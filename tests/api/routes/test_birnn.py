"""POST /api/birnn/cloze on tiny untrained cloze nets: shapes, truth, companions, limits, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.api.routes.birnn import ClozeResponse
from app.checkpoints import Registry, save
from app.config import Settings
from app.main import create_app
from app.nets.cloze import ClozeLSTM
from app.tasks.cloze import build_vocab
from tests.conftest import make_checkpoint, tiny_char_lm_checkpoint

H = 6
ALPHABET = "abcdefghijklmnopqrstuvwxyz ,.!?\n'"


def tiny_cloze(name: str, direction: str, alphabet: str = ALPHABET) -> dict[str, object]:
    vocab = build_vocab(alphabet)
    config = {"vocab_size": len(vocab), "embed_size": 4, "hidden_size": H, "direction": direction}
    return make_checkpoint(name, "cloze", config, vocab.to_dict(), task="shakespeare-cloze")


@pytest.fixture
def cloze_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cloze-models"
    save(tiny_cloze("cloze-bi", "both"), d / "cloze-bi.pt")
    save(tiny_cloze("cloze-fwd", "forward"), d / "cloze-fwd.pt")
    save(tiny_cloze("cloze-bwd", "backward"), d / "cloze-bwd.pt")
    save(tiny_cloze("other-vocab-fwd", "forward", alphabet="abc"), d / "other-vocab-fwd.pt")
    save(tiny_char_lm_checkpoint(), d / "tiny-char.pt")
    return d


@pytest.fixture
def cloze_registry(cloze_dir: Path) -> Registry:
    return Registry.from_paths(cloze_dir)


@pytest.fixture
def cloze_client(tmp_path: Path, cloze_dir: Path, cloze_registry: Registry) -> Iterator[TestClient]:
    settings = Settings(models_dir=cloze_dir, upload_dir=tmp_path / "uploads", max_cloze_chars=300)
    with TestClient(create_app(settings, cloze_registry)) as c:
        yield c


def post(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/birnn/cloze", json={"model": "cloze-bi", **body})


def test_response_shapes_and_schema(cloze_client: TestClient) -> None:
    text = "wherefore art thou ro_eo?"
    r = post(cloze_client, text=text)
    assert r.status_code == 200, r.text
    body = r.json()
    ClozeResponse.model_validate(body)  # the declared response_model is accurate
    T = len(text)
    assert body["tokens"] == list(text) and body["blank_index"] == text.index("_") and body["unknown"] == []
    assert body["hidden_size"] == H and len(body["concat"]) == 2 * H
    for side in ("forward", "backward"):
        states = body[side]
        for rows in [states["hidden"], states["cell"], *states["gates"].values()]:
            assert len(rows) == T and all(len(row) == H for row in rows)
    for key in ("bi", "fwd", "bwd"):
        probs = [p["prob"] for p in body["predictions"][key]]
        assert len(probs) == 10 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert body["models"] == {"bi": "cloze-bi", "fwd": "cloze-fwd", "bwd": "cloze-bwd"}
    assert body["notes"] == []
    assert [h["token"] for h in body["head"]] == [p["token"] for p in body["predictions"]["bi"]]


def test_numbers_are_the_networks(cloze_client: TestClient, cloze_registry: Registry) -> None:
    text = "to be or n_t to be"
    body = post(cloze_client, text=text, full_precision=True).json()
    rounded = post(cloze_client, text=text).json()
    entry = cloze_registry.get("cloze-bi")
    assert entry is not None and isinstance(entry.net, ClozeLSTM)
    net = entry.net
    vocab = build_vocab(ALPHABET)
    ids = torch.tensor([vocab.special_id("blank") if ch == "_" else vocab.id(ch) for ch in text])
    b = text.index("_")
    with torch.no_grad():
        out, _ = net.lstm(net.embed(ids)[:, None])  # (T, 1, 2H)
        probs = torch.softmax(net(ids[:, None], b)[0], -1)
    fwd, bwd = torch.tensor(body["forward"]["hidden"]), torch.tensor(body["backward"]["hidden"])
    assert torch.allclose(torch.cat([fwd, bwd], 1), out[:, 0], atol=1e-6)
    assert torch.allclose(torch.tensor(body["concat"]), out[b, 0], atol=1e-6)
    for p in body["predictions"]["bi"]:
        assert p["prob"] == pytest.approx(float(probs[vocab.id(p["token"])]), abs=1e-6)
    for h in body["head"]:
        assert h["logit"] == pytest.approx(h["forward"] + h["backward"] + h["bias"], abs=1e-5)
    for a, e in zip(rounded["concat"], body["concat"], strict=True):
        assert float(f"{e:.4g}") == pytest.approx(a, rel=1e-6, abs=1e-12)
    # The one-direction lists are the companion models' own predictions.
    fwd_net = cloze_registry.get("cloze-fwd").net  # type: ignore[union-attr]
    with torch.no_grad():
        fwd_probs = torch.softmax(fwd_net(ids[:, None], b)[0], -1)  # type: ignore[misc]
    top = body["predictions"]["fwd"][0]
    assert top["prob"] == pytest.approx(float(fwd_probs.max()), abs=1e-6)
    assert vocab.tokens[int(fwd_probs.argmax())] == top["token"]


def test_unknown_characters_and_edge_blanks(cloze_client: TestClient) -> None:
    body = post(cloze_client, text="\u00e9\U0001f600_\x00").json()
    assert body["blank_index"] == 2 and body["unknown"] == [0, 1, 3]
    assert post(cloze_client, text="_").json()["tokens"] == ["_"]
    assert post(cloze_client, text="_abc").status_code == 200
    assert post(cloze_client, text="abc_").status_code == 200


def test_missing_companion_is_a_note_not_an_error(cloze_client: TestClient, cloze_registry: Registry) -> None:
    entry = cloze_registry.get("cloze-bwd")
    assert entry is not None
    entry.available, entry.reason = False, "cloze-bwd.pt: truncated"
    body = post(cloze_client, text="a_c").json()
    assert body["predictions"]["bwd"] is None and body["models"]["bwd"] is None
    assert body["predictions"]["fwd"] is not None
    assert any("truncated" in n for n in body["notes"])


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"text": "no blank"}, 422, ["no blank", "_"]),
        ({"text": "two_bla_nks"}, 422, ["2 blanks", "3, 7"]),
        ({"text": ""}, 422, ["text", "empty"]),
        ({"text": "a_" * 151}, 422, ["302", "300"]),
        ({"text": 5}, 422, ["text", "string"]),
        ({}, 422, ["text", "required"]),
        ({"text": "a_", "bogus": 1}, 422, ["bogus"]),
        ({"text": "a_", "model": "nope"}, 404, ["nope", "cloze-bi"]),
        ({"text": "a_", "model": "tiny-char"}, 422, ["char-lm", "cloze"]),
        ({"text": "a_", "model": "cloze-fwd"}, 422, ["forward only", "bidirectional", "cloze-bi"]),
        ({"text": "a_", "forward_model": "cloze-bwd"}, 422, ["forward_model", "backward"]),
        ({"text": "a_", "forward_model": "other-vocab-fwd"}, 422, ["vocabulary"]),
        ({"text": "a_", "backward_model": "nope"}, 404, ["nope"]),
    ],
)
def test_bad_input_is_a_readable_4xx(
    cloze_client: TestClient, body: dict[str, object], status: int, words: list[str]
) -> None:
    r = cloze_client.post("/api/birnn/cloze", json={"model": "cloze-bi", **body})
    assert r.status_code == status, r.text
    message = r.json()["message"]
    for word in words:
        assert word in message, (word, message)
    assert post(cloze_client, text="still _ine").status_code == 200


def test_unavailable_model_is_409(cloze_client: TestClient, cloze_registry: Registry) -> None:
    entry = cloze_registry.get("cloze-bi")
    assert entry is not None
    entry.available, entry.reason = False, "cloze-bi.pt: truncated"
    r = post(cloze_client, text="a_")
    assert r.status_code == 409 and "truncated" in r.json()["message"]
