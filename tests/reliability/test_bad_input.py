"""Table-driven bad input for every POST route: each case is a readable 4xx, and the next valid
request still works. New routes add a row to ROUTES (a valid body, its text field and limit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.errors import CODES
from app.checkpoints import Registry
from app.config import REPO_ROOT, Settings
from app.main import create_app


@dataclass(frozen=True)
class Route:
    path: str
    valid: dict[str, Any]  # a body that answers 200
    text_field: str | None = "text"  # the free-text field, if any
    limit: int | None = None  # its length limit (from Settings)
    numbers: dict[str, list[Any]] = field(default_factory=dict)  # numeric field -> silly values
    at_limit: str | None = None  # a valid text exactly at the limit, when the route has one


SETTINGS = Settings()
ROUTES = [
    Route(
        "/api/lstm/trace",
        {"model": "shakespeare-char", "text": "To be, or not to be"},
        limit=SETTINGS.max_trace_chars,
        at_limit="a" * SETTINGS.max_trace_chars,
        numbers={
            "unit": [-1, 10**6, 1.5, "three"],
            "layer": [-1, 99],
            "direction": [2, -1],
            "full_precision": ["maybe", 0],
        },
    ),
    Route(
        "/api/rnn/trace",
        {"model": "recall-rnn", "text": "C4071?"},
        limit=SETTINGS.max_trace_chars,
        at_limit="C" + "1" * (SETTINGS.max_trace_chars - 2) + "?",
        numbers={"unit": [-1, 10**6], "delay": [-5, 7, 10**9], "tokens": [[""], ["a" * 33], 5]},
    ),
    Route(
        "/api/gradients",
        {"model": "recall-lstm", "delay": 20, "sequence": "C48213370945126680339?"},
        text_field="sequence",
        limit=SETTINGS.max_gradient_chars,
        at_limit="C" + "1" * (SETTINGS.max_gradient_chars - 2) + "?",
        numbers={"delay": [-1, 0, 3, 10**9, "long"], "sequence": ["C", "?"]},
    ),
    Route(
        "/api/birnn/cloze",
        {"model": "cloze-bi", "text": "Some are born gr_at, some achieve greatness"},
        limit=SETTINGS.max_cloze_chars,
        at_limit=("a" * 500 + "_" + "a" * SETTINGS.max_cloze_chars)[: SETTINGS.max_cloze_chars],
        numbers={"text": ["no blank", "two__blanks"], "forward_model": ["nope", "cloze-bi", 3]},
    ),
    Route(
        "/api/seq2seq/translate",
        {"model": "dates", "text": "27 Nov 2026"},
        limit=SETTINGS.max_seq2seq_chars,
        at_limit="1" * SETTINGS.max_seq2seq_chars,
        numbers={
            "samples": [0, -1, SETTINGS.max_hard_samples + 1, 10**6, 2.5],
            "seed": ["x", 1.5],
            "snapshot": [-1, 99],
            "attention_mode": ["medium", 1],
        },
    ),
    Route(
        "/api/seq2seq/forcing",
        {"model": "copy-tf-1.0", "text": "abcefgh"},
        limit=SETTINGS.max_seq2seq_chars,
        numbers={
            "inject": [
                {"step": -1, "token": "a"},
                {"step": 10**9, "token": "a"},
                {"step": 1, "token": "z"},
                {"step": 1, "token": "<unk>"},
                {"step": True, "token": "a"},
                {"step": SETTINGS.max_decode_length, "token": "a"},
                "s",
            ],
            "target": ["xyz", 5, "a" * 300, "\x00"],
            "full_precision": ["yes"],
        },
    ),
    Route(
        "/api/decode/beam",
        {"model": "idioms", "text": "mirar pasear descansar"},
        limit=SETTINGS.max_seq2seq_chars,
        at_limit=" ".join(["mirar"] * 40)[: SETTINGS.max_seq2seq_chars],
        numbers={
            "beam_width": [0, -1, SETTINGS.max_beam_width + 1, 10**9, 2.5, "5"],
            "max_length": [0, SETTINGS.max_decode_length + 1, 1.5],
            "length_penalty": [-1, 100, "big"],
            "n_best": [0, 99],
            "snapshot": [-1, 99],
        },
    ),
    Route(
        "/api/skipthought/neighbours",
        {"model": "stories-skipthought", "text": "Anna eats eggs for breakfast."},
        limit=SETTINGS.max_sentence_chars,
        at_limit="a" * SETTINGS.max_sentence_chars,
        numbers={"beam_width": [0, -1, 10**6, 2.5, "two", True], "full_precision": ["maybe", 0]},
    ),
]

WEIRD_TEXTS = {
    "nul and control": "a\x00b\x01\x07\x1b[31m\x7f",
    "emoji": "😀👩‍👩‍👧‍👦🏳️‍🌈",
    "rtl": "שלום עולם مرحبا",
    "cjk": "中文 日本語 한국어",
    "lone surrogate-like": "\ufffd\ufeff\u200b",
}


@pytest.fixture(scope="module")
def client(shipped_client: TestClient) -> TestClient:
    return shipped_client


def readable(r: Any, *words: str) -> str:
    """A 4xx whose body is our own: complete sentences, a documented code, its params."""
    assert 400 <= r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    assert r.headers.get("content-security-policy"), "security headers on every error"
    body = r.json()
    message = body["message"]
    assert isinstance(message, str) and 5 < len(message) < 2000, message
    assert message.rstrip().endswith((".", ")")), f"not a complete sentence: {message!r}"
    assert "Traceback" not in message and "weights_only=False" not in message
    assert body["code"] in CODES, body
    assert isinstance(body["params"], dict), body
    for w in words:
        assert w in message, (w, message)
    return message


def still_works(client: TestClient, route: Route) -> None:
    assert client.post(route.path, json=route.valid).status_code == 200


JSON = {"content-type": "application/json"}


def escaped(body: dict[str, Any]) -> bytes:
    """JSON with non-ASCII escaped as \\uXXXX: the only way to send a lone surrogate."""
    return json.dumps(body).encode()


def cases(route: Route) -> list[tuple[str, Any, dict[str, str]]]:
    """(case name, body or raw bytes, headers)."""
    out: list[tuple[str, Any, dict[str, str]]] = [
        ("invalid json", b"{not json", {"content-type": "application/json"}),
        ("not utf-8", b"\xff\xfe\x00garbage", {"content-type": "application/json"}),
        ("array body", b"[1, 2, 3]", {"content-type": "application/json"}),
        ("empty body", b"", {"content-type": "application/json"}),
        ("unknown model", {**route.valid, "model": "no-such-model"}, {}),
        ("model wrong type", {**route.valid, "model": 42}, {}),
        ("extra field", {**route.valid, "surprise": True}, {}),
        ("1 MB body", {**route.valid, "padding": "x" * 2**20}, {}),
    ]
    for key in route.valid:
        out.append((f"missing {key}", {k: v for k, v in route.valid.items() if k != key}, {}))
    deep = b"[" * 5000 + b"]" * 5000
    out += [
        (
            "nested too deeply",
            b'{"model": "x", "nested": ' + deep + b"}",
            {"content-type": "application/json"},
        ),
        ("nested but shallow enough", {**route.valid, "nested": [[[[[[[[[[1]]]]]]]]]]}, {}),
        ("content-length not a number", b"{}", {"content-type": "application/json", "content-length": "x"}),
    ]
    if route.text_field:
        out += [
            ("empty text", {**route.valid, route.text_field: ""}, {}),
            ("text wrong type", {**route.valid, route.text_field: ["a"]}, {}),
            ("1 MB text", {**route.valid, route.text_field: "y" * 2**20}, {}),
            ("lone surrogate", escaped({**route.valid, route.text_field: "ok \ud800 then"}), JSON),
            ("lone low surrogate", escaped({**route.valid, route.text_field: "\udfff"}), JSON),
        ]
        if route.limit:
            out.append(("limit + 1", {**route.valid, route.text_field: "a" * (route.limit + 1)}, {}))
    for name, values in route.numbers.items():
        out += [(f"{name}={v!r}", {**route.valid, name: v}, {}) for v in values]
    return out


ALL = [(route, name, body, headers) for route in ROUTES for name, body, headers in cases(route)]


@pytest.mark.parametrize("route,name,body,headers", ALL, ids=[f"{r.path} {n}" for r, n, _, _ in ALL])
def test_bad_input_is_a_readable_4xx(
    client: TestClient, route: Route, name: str, body: Any, headers: dict[str, str]
) -> None:
    if isinstance(body, bytes):
        r = client.post(route.path, content=body, headers=headers)
    else:
        r = client.post(route.path, json=body)
    message = readable(r)
    code = r.json()["code"]
    if name == "unknown model":
        assert r.status_code == 404 and "no-such-model" in message and code == "unknown-model"
    if name == "limit + 1" and route.limit:
        assert str(route.limit + 1) in message and str(route.limit) in message and code == "too-long"
    if name.startswith("lone"):
        assert code == "invalid-text" and r.json()["field"] == route.text_field, r.json()
    if name == "nested too deeply":
        assert r.status_code == 400 and code == "too-deep" and "nested too deeply" in message
    if name == "nested but shallow enough":
        assert code == "unknown-field" and "nested" in message
    still_works(client, route)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.at_limit], ids=lambda r: r.path)
def test_text_at_its_limit_is_answered(client: TestClient, route: Route) -> None:
    assert route.at_limit is not None and len(route.at_limit) == route.limit
    r = client.post(route.path, json={**route.valid, route.text_field: route.at_limit})
    assert r.status_code == 200, r.text[:300]


@pytest.fixture(scope="module")
def uncached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    uploads = Path(tmp_path_factory.mktemp("uploads"))
    settings = Settings(upload_dir=uploads, response_cache_bytes=0)
    with TestClient(create_app(settings, Registry.from_paths(REPO_ROOT / "models"))) as c:
        yield c


@pytest.mark.parametrize("route", [r for r in ROUTES if r.text_field], ids=lambda r: r.path)
def test_a_lone_surrogate_is_refused_with_the_cache_off_too(uncached: TestClient, route: Route) -> None:
    """The cache key and the encoder never see it: refused once, in the request schema."""
    r = uncached.post(route.path, content=escaped({**route.valid, route.text_field: "\ud800"}), headers=JSON)
    readable(r, route.text_field or "", "surrogate")
    assert r.json()["code"] == "invalid-text"


def test_the_price_of_a_trace_is_exact_at_the_budget(client: TestClient) -> None:
    """Full precision costs 1.5 numbers each: the longest allowed trace passes, one more is refused
    naming the budget and the longest that fits."""
    body = {"model": "shakespeare-char", "full_precision": True, "unit": 0}
    over = client.post("/api/lstm/trace", json={**body, "text": "a" * SETTINGS.max_trace_chars})
    readable(over, "RLENS_MAX_RESPONSE_FLOATS", "at most")
    most = over.json()["params"]["most"]
    assert over.json()["code"] == "over-budget" and 0 < most < SETTINGS.max_trace_chars
    assert client.post("/api/lstm/trace", json={**body, "text": "a" * most}).status_code == 200
    again = client.post("/api/lstm/trace", json={**body, "text": "a" * (most + 1)})
    assert again.status_code == 422 and again.json()["code"] == "over-budget"


@pytest.mark.parametrize("route", [r for r in ROUTES if r.text_field], ids=lambda r: r.path)
@pytest.mark.parametrize("kind", sorted(WEIRD_TEXTS))
def test_weird_text_is_traced_or_refused_never_a_500(client: TestClient, route: Route, kind: str) -> None:
    r = client.post(route.path, json={**route.valid, route.text_field: WEIRD_TEXTS[kind]})
    assert r.status_code < 500, r.text[:300]
    if r.status_code >= 400:
        readable(r)
    still_works(client, route)


def test_wrong_method_and_unknown_route(client: TestClient) -> None:
    readable(client.get("/api/lstm/trace"))
    readable(client.post("/api/nothing-here", json={}))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
def test_every_compute_route_answers_repeats_from_the_cache(client: TestClient, route: Route) -> None:
    """A repeated valid request gives the same bytes, from the response cache (errors never are)."""
    cache = client.app.state.response_cache  # type: ignore[attr-defined]
    body = {**route.valid}
    first = client.post(route.path, json=body, headers={"accept-encoding": "identity"})
    hits = cache.hits
    second = client.post(route.path, json=body, headers={"accept-encoding": "identity"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert cache.hits == hits + 1
