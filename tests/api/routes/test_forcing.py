"""POST /api/seq2seq/forcing on tiny untrained nets: both lanes equal the net's own computations,
injection changes only the free lane after the injected step, and every bad input is a readable 422."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from torch.nn import functional as F

from app.api.routes.forcing import ForcingResponse
from app.checkpoints import Registry, save
from app.config import Settings
from app.main import create_app
from app.nets.seq2seq import Seq2Seq, greedy_decode
from app.recipes.seq2seq import SPECIALS
from app.tasks import copy as copy_task
from app.tasks.vocab import Vocab
from tests.conftest import make_checkpoint, tiny_char_lm_checkpoint, tiny_seq2seq_checkpoint

MAX_DECODE = 30


def tiny_copy_checkpoint(name: str, eos_bias: float) -> dict[str, Any]:
    """A tiny untrained copy model; ``eos_bias`` makes it stop at once (> 0) or never (< 0)."""
    vocab = Vocab.build(copy_task.SYMBOLS, specials=SPECIALS)
    config = {
        "source_vocab_size": len(vocab),
        "target_vocab_size": len(vocab),
        "embed_size": 8,
        "hidden_size": 6,
        "decoder_size": 10,
        "attention_size": 5,
        "attention": True,
    }
    ckpt = make_checkpoint(
        name,
        "seq2seq",
        config,
        {"source": vocab.to_dict(), "target": vocab.to_dict()},
        task="copy",
        metrics={"teacher_forcing": "ratio 0.5", "summary": {"exact": 0.5}},
    )
    state = dict(ckpt["state_dict"])
    bias = state["out.bias"].clone()
    bias[vocab.special_id("eos")] = eos_bias
    state["out.bias"] = bias
    ckpt["state_dict"] = state
    return ckpt


@pytest.fixture
def tf_registry(tmp_path: Path) -> Registry:
    d = tmp_path / "models"
    save(tiny_copy_checkpoint("tiny-copy", eos_bias=-50.0), d / "tiny-copy.pt")
    save(tiny_copy_checkpoint("tiny-stopper", eos_bias=50.0), d / "tiny-stopper.pt")
    save(tiny_seq2seq_checkpoint("tiny-dates"), d / "tiny-dates.pt")
    save(tiny_char_lm_checkpoint(), d / "tiny-char.pt")
    return Registry.from_paths(d)


@pytest.fixture
def tf_client(tmp_path: Path, tf_registry: Registry) -> Iterator[TestClient]:
    settings = Settings(
        models_dir=tmp_path / "models", upload_dir=tmp_path / "uploads", max_decode_length=MAX_DECODE
    )
    with TestClient(create_app(settings, tf_registry)) as c:
        yield c


def post(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/seq2seq/forcing", json={"model": "tiny-copy", **body})


def net_of(registry: Registry, name: str) -> tuple[Seq2Seq, Vocab]:
    entry = registry.get(name)
    assert entry is not None and isinstance(entry.net, Seq2Seq)
    return entry.net, Vocab.from_dict(entry.checkpoint["vocab"]["target"])


def test_both_lanes_are_the_nets_own_computations(tf_client: TestClient, tf_registry: Registry) -> None:
    text = "abcefgh"
    r = post(tf_client, text=text, full_precision=True)
    assert r.status_code == 200, r.text
    body = r.json()
    ForcingResponse.model_validate(body)
    assert body["target_from"] == "copy" and body["target_tokens"] == [*text, "<eos>"]
    assert body["training"] == "ratio 0.5" and body["inject"] is None
    net, vocab = net_of(tf_registry, "tiny-copy")
    ids = torch.tensor([vocab.id(c) for c in text])
    target_in = torch.tensor([[net.bos_id, *ids.tolist()]])
    gold = torch.tensor([*ids.tolist(), net.eos_id])
    # teacher forcing: exactly net(src, lengths, target_in), the training computation
    teacher = body["teacher"]
    assert teacher["steps"] == len(text) + 1 and teacher["finished"] is None
    assert teacher["fed"] == ["<bos>", *text]
    with torch.no_grad():
        logits = net(ids[None], None, target_in)[0]  # (L+1, V)
    loss = F.cross_entropy(logits, gold, reduction="none")
    assert torch.allclose(torch.tensor(teacher["loss"]), loss, atol=1e-5)
    assert torch.allclose(torch.tensor(teacher["gold_prob"]), torch.exp(-loss), atol=1e-5)
    assert teacher["predicted"] == [vocab.tokens[i] for i in logits.argmax(-1).tolist()]
    assert teacher["loss_mean"] == pytest.approx(float(loss.mean()), abs=1e-5)
    assert len(teacher["attention"]) == len(text) + 1
    assert all(sum(row) == pytest.approx(1.0, abs=1e-5) for row in teacher["attention"])
    # free running: exactly greedy decoding (this net never writes eos, so it runs to the limit)
    free = body["free"]
    with torch.no_grad():
        greedy = greedy_decode(net, net.encode(ids), MAX_DECODE)
    assert free["written"] == [vocab.tokens[i] for i in greedy.row(0)] == free["predicted"]
    assert free["steps"] == MAX_DECODE and free["finished"] is False
    assert free["fed"] == ["<bos>", *free["written"][:-1]]
    n = len(text) + 1
    free_loss = F.cross_entropy(greedy.logits[0, :n], gold, reduction="none")
    assert torch.allclose(torch.tensor(free["loss"][:n]), free_loss, atol=1e-5)
    assert free["loss"][n:] == [None] * (MAX_DECODE - n) and free["gold_prob"][n:] == [None] * (
        MAX_DECODE - n
    )
    assert free["correct"][:n] == [w == g for w, g in zip(free["written"], [*text, "<eos>"], strict=False)]
    # both lanes read bos first; where they first read different tokens is reported
    fed_t, fed_f = teacher["fed"], free["fed"]
    diverge = next((i for i in range(n) if fed_t[i] != fed_f[i]), None)
    assert body["first_divergence"] == diverge
    assert body["first_error"] == next(i for i, ok in enumerate(free["correct"]) if ok is False)


def test_an_injected_error_changes_only_the_free_lane_after_that_step(tf_client: TestClient) -> None:
    text = "abcefghij"
    plain = post(tf_client, text=text).json()
    s = 2
    token = next(c for c in copy_task.SYMBOLS if c not in (plain["free"]["predicted"][s], text[s]))
    body = post(tf_client, text=text, inject={"step": s, "token": token}).json()
    ForcingResponse.model_validate(body)
    assert body["teacher"] == plain["teacher"]  # teacher forcing never reads the free run
    free, before = body["free"], plain["free"]
    for key in ("fed", "predicted", "written", "gold_prob", "loss"):
        assert (
            free[key][: s + 1 if key != "written" else s] == before[key][: s + 1 if key != "written" else s]
        )
    assert free["written"][s] == token and free["predicted"][s] == before["predicted"][s]
    assert free["fed"][s + 1] == token != before["fed"][s + 1]
    assert free["loss"][s + 1] != before["loss"][s + 1]
    assert body["inject"] == {
        "step": s,
        "token": token,
        "replaced": before["predicted"][s],
        "gold": text[s],
        "is_error": True,
    }
    assert body["first_divergence"] is not None and body["first_divergence"] <= s + 1
    assert body["first_error"] is not None and body["first_error"] <= s
    # injecting the label's own token is allowed: not an error
    same = post(tf_client, text=text, inject={"step": s, "token": text[s]}).json()
    assert same["inject"]["is_error"] is False and same["free"]["written"][s] == text[s]


def test_injecting_eos_ends_the_free_run(tf_client: TestClient) -> None:
    body = post(tf_client, text="abcdef", inject={"step": 3, "token": "<eos>"}).json()
    assert body["free"]["steps"] == 4 and body["free"]["finished"] is True
    assert body["free"]["written"][-1] == "<eos>" and body["first_error"] == 3 or body["first_error"] < 3


def test_a_given_target_and_a_non_copy_model(tf_client: TestClient) -> None:
    body = post(tf_client, text="abc", target="cba").json()
    assert body["target_from"] == "request" and body["target_tokens"] == ["c", "b", "a", "<eos>"]
    assert body["teacher"]["fed"] == ["<bos>", "c", "b", "a"]
    dates = tf_client.post(
        "/api/seq2seq/forcing", json={"model": "tiny-dates", "text": "27 Nov 2026", "target": "2026-11-27"}
    )
    assert dates.status_code == 200, dates.text
    assert dates.json()["target_tokens"][:4] == list("2026") and dates.json()["training"] is None
    assert post(tf_client, text="abc", target="").json()["target_from"] == "copy"


def test_unknown_source_characters_are_marked_with_an_explicit_target(tf_client: TestClient) -> None:
    body = post(tf_client, text="ab😀z", target="ab").json()
    assert body["source_tokens"] == ["a", "b", "😀", "z"] and body["unknown"] == [2, 3]


def test_rounded_values_are_the_full_ones_to_4_significant_digits(tf_client: TestClient) -> None:
    rounded = post(tf_client, text="hello").json()
    exact = post(tf_client, text="hello", full_precision=True).json()
    for a, b in zip(rounded["teacher"]["loss"], exact["teacher"]["loss"], strict=True):
        assert a == pytest.approx(float(f"{b:.4g}"), rel=1e-6)


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"text": ""}, 422, ["text", "empty"]),
        ({"text": "a" * 201}, 422, ["201", "200"]),
        ({"text": "a" * 30}, 422, ["30", "29", "<eos>"]),  # the copy label needs 31 steps of 30
        ({"text": "abc", "target": "a" * 30}, 422, ["target", "30", "29"]),
        ({"text": "abc", "target": "b" * 201}, 422, ["target", "201", "200"]),
        ({"text": "abxyz"}, 422, ["text", "'x'", "'y'", "'z'", "a b c"]),
        ({"text": "abc", "target": "ab!"}, 422, ["target", "'!'"]),
        ({"text": "abc", "target": "<eos>"}, 422, ["target", "'<'", "'>'"]),
        ({"text": "abc", "target": 5}, 422, ["target"]),
        ({"text": "abc", "inject": {"step": 1, "token": "z"}}, 422, ["inject.token", "'z'", "<eos> a b"]),
        ({"text": "abc", "inject": {"step": 1, "token": "<pad>"}}, 422, ["inject.token", "<pad>"]),
        ({"text": "abc", "inject": {"step": 1, "token": "<bos>"}}, 422, ["inject.token"]),
        ({"text": "abc", "inject": {"step": 1, "token": "ab"}}, 422, ["inject.token", "'ab'"]),
        ({"text": "abc", "inject": {"step": 1, "token": ""}}, 422, ["inject.token"]),
        ({"text": "abc", "inject": {"step": -1, "token": "a"}}, 422, ["inject.step"]),
        ({"text": "abc", "inject": {"step": 1.5, "token": "a"}}, 422, ["inject.step"]),
        ({"text": "abc", "inject": {"step": "2", "token": "a"}}, 422, ["inject.step"]),
        ({"text": "abc", "inject": {"step": 30, "token": "a"}}, 422, ["inject.step", "30", "at most 29"]),
        ({"text": "abc", "inject": {"step": 10**12, "token": "a"}}, 422, ["inject.step"]),
        ({"text": "abc", "inject": {"token": "a"}}, 422, ["inject.step", "required"]),
        ({"text": "abc", "inject": {"step": 1, "token": "a", "x": 1}}, 422, ["inject.x"]),
        ({"text": "abc", "inject": [1, "a"]}, 422, ["inject"]),
        (
            {"text": "abc", "model": "tiny-stopper", "inject": {"step": 1, "token": "a"}},
            422,
            ["inject.step", "ends at step 0", "<eos>"],
        ),
        ({"text": "27 Nov", "model": "tiny-dates"}, 422, ["target", "not a copy model"]),
        ({"text": "1", "model": "tiny-char"}, 422, ["tiny-char", "tiny-copy"]),
        ({"text": "1", "model": "nope"}, 404, ["nope"]),
        ({"text": "abc", "full_precision": 1}, 422, ["full_precision"]),
        ({"text": "abc", "bogus": 1}, 422, ["bogus"]),
    ],
)
def test_bad_input_is_a_readable_4xx(
    tf_client: TestClient, body: dict[str, object], status: int, words: list[str]
) -> None:
    r = post(tf_client, **body)
    assert r.status_code == status, r.text
    message = r.json()["message"]
    for word in words:
        assert word in message, (word, message)
    assert post(tf_client, text="stillfine").status_code == 200


def test_injection_at_the_stopping_step_keeps_the_run_going(tf_client: TestClient) -> None:
    body = post(tf_client, model="tiny-stopper", text="abc", inject={"step": 0, "token": "a"}).json()
    assert body["free"]["written"][0] == "a" and body["free"]["fed"][1] == "a"
    assert body["free"]["steps"] == 2 and body["free"]["finished"] is True  # then it stops again
