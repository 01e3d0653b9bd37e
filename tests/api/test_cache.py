"""The response cache: repeated requests get the same bytes; errors are never cached."""

from __future__ import annotations

import asyncio
import gzip
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.requests import Request

from app.api.cache import ResponseCache, cached_json
from app.checkpoints import Registry
from app.config import Settings
from app.main import create_app


def test_repeated_request_is_served_from_the_cache(client: TestClient) -> None:
    cache: ResponseCache = client.app.state.response_cache  # type: ignore[attr-defined]
    body = {"model": "tiny-char", "text": "same text twice"}
    first = client.post("/api/lstm/trace", json=body, headers={"accept-encoding": "identity"})
    misses, hits = cache.misses, cache.hits
    second = client.post("/api/lstm/trace", json=body, headers={"accept-encoding": "identity"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert cache.hits == hits + 1 and cache.misses == misses
    other = client.post("/api/lstm/trace", json={**body, "unit": 2}, headers={"accept-encoding": "identity"})
    assert other.content != first.content and cache.misses == misses + 1


def test_gzip_from_the_cache_decodes_to_the_same_json(client: TestClient) -> None:
    body = {"model": "tiny-char", "text": "a longer text so that the answer is worth compressing " * 3}
    plain = client.post("/api/lstm/trace", json=body, headers={"accept-encoding": "identity"})
    zipped = client.post("/api/lstm/trace", json=body, headers={"accept-encoding": "gzip"})
    assert zipped.headers.get("content-encoding") == "gzip"
    assert zipped.content == plain.content  # httpx decodes it
    raw = client.post("/api/lstm/trace", json=body, headers={"accept-encoding": "gzip"}).content
    assert gzip.decompress(gzip.compress(raw)) == plain.content


def test_errors_are_not_cached_and_the_cache_can_be_off(settings: Settings, registry: Registry) -> None:
    off = Settings(**{**settings.model_dump(), "response_cache_bytes": 0})
    with TestClient(create_app(off, registry)) as client:
        cache: ResponseCache = client.app.state.response_cache  # type: ignore[attr-defined]
        assert client.post("/api/lstm/trace", json={"model": "tiny-char", "text": ""}).status_code == 422
        r1 = client.post("/api/lstm/trace", json={"model": "tiny-char", "text": "abc"})
        r2 = client.post("/api/lstm/trace", json={"model": "tiny-char", "text": "abc"})
        assert r1.content == r2.content and cache.hits == 0 and not cache._entries


def test_lru_budget() -> None:
    cache = ResponseCache(max_bytes=400)
    for i in range(10):
        cache.put(f"k{i}", [b"x" * 90, None])
    assert cache.get("k0") is None and cache.get("k9") is not None
    assert cache._bytes <= 400
    cache.put("huge", [b"y" * 200, None])  # more than a quarter of the budget: not kept
    assert cache.get("huge") is None


def _in_own_loop(coro: Any) -> Any:
    """asyncio.run in a thread: the browser tests keep an event loop running in the main one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class _Body(BaseModel):
    text: str


def test_concurrent_identical_requests_compute_once() -> None:
    cache = ResponseCache(max_bytes=1 << 20)
    scope = {
        "type": "http",
        "app": SimpleNamespace(state=SimpleNamespace(response_cache=cache)),
        "headers": [],
    }
    calls: list[str] = []

    def compute(text: str) -> dict[str, str]:
        calls.append(text)
        time.sleep(0.05)
        if text == "bad":
            raise ValueError("refused")
        return {"echo": text}

    async def burst(text: str, n: int) -> list[Any]:
        body = _Body(text=text)
        return await asyncio.gather(
            *(cached_json(Request(scope), "r", body, lambda: compute(text)) for _ in range(n)),
            return_exceptions=True,
        )

    answers = _in_own_loop(burst("same", 8))
    assert calls == ["same"] and {a.body for a in answers} == {b'{"echo":"same"}'}
    assert not cache.in_flight and cache.peek('r\n{"text":"same"}') is not None
    errors = _in_own_loop(burst("bad", 4))
    assert calls == ["same", "bad"] and all(isinstance(e, ValueError) for e in errors)
    assert cache.peek('r\n{"text":"bad"}') is None and not cache.in_flight
