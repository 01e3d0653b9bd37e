"""The OpenAPI schema states every enforced limit, from Settings, and the server agrees with it:
each limit is accepted at the limit and refused one past it, naming the field."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from app.api.errors import CODES
from app.api.limits import LIMITS, Limit, field_schema
from app.checkpoints import Registry
from app.config import Settings
from app.main import create_app

LIMIT_CODES = {"too-long", "too-short", "out-of-range", "empty"}


def spec(settings: Settings) -> dict[str, Any]:
    return create_app(settings, Registry()).openapi()


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(
            max_trace_chars=123,
            max_beam_width=3,
            max_cloze_chars=77,
            max_hard_samples=9,
            max_decode_length=20,
        ),
    ],
    ids=["defaults", "changed"],
)
def test_schema_limits_are_the_settings(settings: Settings) -> None:
    schema = spec(settings)
    for limit in LIMITS:
        assert field_schema(schema, limit.path, limit.field, limit.keyword)[limit.keyword] == limit.of(
            settings
        ), limit
    # Spelled out, so a wrong entry of LIMITS cannot pass unseen.
    expected = [
        ("/api/lstm/trace", "text", "maxLength", settings.max_trace_chars),
        ("/api/lstm/trace", "inputs", "maxItems", settings.max_trace_chars),
        ("/api/rnn/trace", "tokens", "maxItems", settings.max_trace_chars),
        ("/api/birnn/cloze", "text", "maxLength", settings.max_cloze_chars),
        ("/api/gradients", "sequence", "maxLength", settings.max_gradient_chars),
        ("/api/seq2seq/translate", "samples", "maximum", settings.max_hard_samples),
        ("/api/seq2seq/forcing", "inject.step", "maximum", settings.max_decode_length - 1),
        ("/api/decode/beam", "beam_width", "maximum", settings.max_beam_width),
        ("/api/decode/beam", "max_length", "maximum", settings.max_decode_length),
        ("/api/skipthought/neighbours", "text", "maxLength", settings.max_sentence_chars),
    ]
    for path, field, keyword, value in expected:
        assert field_schema(schema, path, field, keyword)[keyword] == value, (path, field)


def test_every_compute_route_has_its_text_limit_in_the_schema() -> None:
    schema = spec(Settings())
    texts = {"/api/gradients": "sequence"}
    for path, ops in schema["paths"].items():
        body = ops.get("post", {}).get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        field = texts.get(path, "text")
        assert "maxLength" in field_schema(schema, path, field, "maxLength"), path


def test_error_codes_are_documented_in_the_error_schema() -> None:
    schema = spec(Settings())
    described = schema["components"]["schemas"]["ErrorBody"]["properties"]["code"]["description"]
    for code in CODES:
        assert f"`{code}`" in described


# --- the server agrees: at the limit and one past it ------------------------------------------


@pytest.fixture(scope="module")
def client(shipped_client: TestClient) -> TestClient:
    return shipped_client


def _text(path: str, n: int) -> dict[str, Any]:
    """A body whose free text has n characters, valid apart from its length."""
    if path == "/api/lstm/trace":
        return {"model": "shakespeare-char", "text": "a" * n}
    if path == "/api/rnn/trace":
        return {"model": "recall-rnn", "text": "1" * n}
    if path == "/api/gradients":
        return {
            "model": "recall-rnn",
            "delay": 5,
            "sequence": "C" + "1" * max(0, n - 2) + "?"[: max(0, n - 1)],
        }
    if path == "/api/birnn/cloze":
        return {"model": "cloze-bi", "text": ("a" * (n // 2) + "_" + "a" * n)[:n]}
    if path == "/api/seq2seq/forcing":
        return {"model": "dates", "text": "1" * n, "target": "2000-01-01"}
    if path == "/api/decode/beam":
        return {"model": "dates", "text": "1" * n, "beam_width": 2}
    if path == "/api/skipthought/neighbours":
        return {"model": "stories-skipthought", "text": "a" * n}
    return {"model": "dates", "text": "1" * n}


def body_at(limit: Limit, n: int) -> dict[str, Any]:
    path, field = limit.path, limit.field
    if field in ("text", "sequence"):
        return _text(path, n)
    if field == "inputs":
        return {"model": "shakespeare-char", "inputs": [[0.0]] * n}
    if field == "tokens":
        return {"model": "recall-rnn", "tokens": ["1"] * n}
    if field == "tokens[]":
        return {"model": "recall-rnn", "tokens": ["a" * n]}
    if field == "samples":
        return {"model": "dates", "text": "1 Jan 2000", "attention_mode": "hard", "samples": n}
    if field == "target":
        return {"model": "dates", "text": "1 Jan 2000", "target": "1" * n}
    if field == "inject.step":
        return {"model": "copy-tf-1.0", "text": "abc", "inject": {"step": n, "token": "a"}}
    if path == "/api/decode/beam":
        return {"model": "idioms", "text": "mirar", "beam_width": 16, field: n}
    if path == "/api/skipthought/neighbours":
        return {"model": "stories-skipthought", "text": "Anna eats.", field: n}
    raise AssertionError(f"no body for {limit}")


def send(client: TestClient, limit: Limit, n: int) -> Any:
    if limit.path == "/api/models/upload":
        buf = io.BytesIO()
        torch.save(torch.nn.LSTM(2, 3).state_dict(), buf)
        files = {"file": ("m.pt", buf.getvalue(), "application/octet-stream")}
        return client.post(limit.path, files=files, data={"prefix": "p" * n})
    return client.post(limit.path, json=body_at(limit, n))


def _refused_for(r: Any, field: str) -> bool:
    if r.status_code != 422:
        return False
    body = r.json()
    return body.get("code") in LIMIT_CODES and body.get("field") == field.removesuffix("[]")


SETTINGS = Settings()


FILE_LIMITS = [lim for lim in LIMITS if lim.field in ("file", "vocab")]  # sizes of uploaded files


@pytest.mark.parametrize(
    "limit",
    [lim for lim in LIMITS if lim not in FILE_LIMITS],
    ids=lambda lim: f"{lim.path} {lim.field} {lim.keyword}",
)
def test_each_limit_holds_at_the_limit_and_not_past_it(client: TestClient, limit: Limit) -> None:
    value = limit.of(SETTINGS)
    past = value - 1 if limit.keyword.startswith("min") else value + 1
    inside = send(client, limit, value)
    assert inside.status_code < 500 and not _refused_for(inside, limit.field), inside.text[:300]
    outside = send(client, limit, past)
    assert _refused_for(outside, limit.field), outside.text[:300]
    assert str(value) in outside.json()["message"] or limit.keyword.startswith("min"), outside.json()


@pytest.mark.parametrize("field", ["file", "vocab"])
def test_upload_file_sizes_hold_at_the_limit_and_not_past_it(tmp_path: Path, field: str) -> None:
    settings = Settings(upload_dir=tmp_path / "u", max_upload_bytes=1000, max_vocab_bytes=100)
    limit = settings.max_upload_bytes if field == "file" else settings.max_vocab_bytes
    buf = io.BytesIO()
    torch.save(torch.nn.LSTM(1, 1).state_dict(), buf)
    with TestClient(create_app(settings, Registry())) as client:
        for size, refused in ((limit, False), (limit + 1, True), (0, True)):
            files = {"file": ("m.pt", buf.getvalue()[:900], "application/octet-stream")}
            files[field] = (f"{field}.bin", b"x" * size, "application/octet-stream")
            r = client.post("/api/models/upload", files=files)
            body = r.json()
            flagged = body.get("field") == field and body.get("code") in ("file-too-large", "empty")
            assert flagged == refused, (size, r.status_code, body)
