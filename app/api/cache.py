"""A response cache for the pure compute routes.

Every POST computation is a pure function of (route, model, body) — DESIGN principle 2 — so a
repeated request can return the bytes computed the first time. That is what a class does: thirty
students open the teacher's link, or the page's default example, at once. Entries are the encoded
JSON and, when a client asked for it, its gzip; least recently used entries go first beyond a byte
budget (``Settings.response_cache_bytes``; 0 turns the cache off). Each worker has its own cache,
so it changes nothing about statelessness: any worker still answers any request.

Model names are stable for a process (shipped checkpoints load once; uploads are named by the hash
of their content), so (route, canonical body) is a complete key.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from app.api.encoding import dumps

GZIP_MIN_BYTES = 1024


class ResponseCache:
    """LRU of encoded responses, bounded in bytes; thread-safe (routes run in a threadpool)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, list[bytes | None]] = OrderedDict()  # key -> [raw, gzip]
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        # key -> the computation under way (event loop only): concurrent identical requests, such
        # as a class opening one link at once, compute once and share the bytes.
        self.in_flight: dict[str, asyncio.Future[bytes]] = {}

    def _size(self, entry: list[bytes | None]) -> int:
        return sum(len(b) for b in entry if b is not None)

    def get(self, key: str) -> list[bytes | None] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return entry

    def peek(self, key: str) -> list[bytes | None] | None:
        """The entry, without counting a hit or a miss or refreshing its place."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, entry: list[bytes | None]) -> None:
        size = self._size(entry)
        if not self.max_bytes or size > self.max_bytes // 4:
            return  # never let one huge trace flush everything else
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= self._size(old)
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= self._size(dropped)

    def add_gzip(self, key: str, entry: list[bytes | None], compressed: bytes) -> None:
        with self._lock:
            if self._entries.get(key) is entry and entry[1] is None:
                entry[1] = compressed
                self._bytes += len(compressed)


def _finished(cache: ResponseCache, key: str, task: asyncio.Future[bytes]) -> None:
    cache.in_flight.pop(key, None)
    if not task.cancelled() and task.exception() is None:  # (an error is marked seen, never cached)
        cache.put(key, [task.result(), None])


async def cached_json(request: Request, route: str, body: BaseModel, compute: Callable[[], Any]) -> Response:
    """The JSON response for ``body`` on ``route``, from the cache or by calling ``compute()``.

    A hit is answered on the event loop (no thread hop); the computation, its encoding and its
    gzip run in the threadpool, so torch never blocks the loop.
    """
    cache: ResponseCache | None = getattr(request.app.state, "response_cache", None)
    if cache is None or not cache.max_bytes:
        fresh: bytes = await run_in_threadpool(lambda: dumps(compute()))
        return Response(fresh, media_type="application/json")
    key = route + "\n" + body.model_dump_json()
    entry = cache.get(key)
    if entry is None:
        task = cache.in_flight.get(key)
        if task is None:  # compute once; identical requests arriving meanwhile share the result
            task = asyncio.ensure_future(run_in_threadpool(lambda: dumps(compute())))
            cache.in_flight[key] = task
            task.add_done_callback(lambda t: _finished(cache, key, t))
        computed = await asyncio.shield(task)  # a client that leaves does not cancel the others
        entry = cache.peek(key) or [computed, None]
    raw = entry[0]
    assert raw is not None
    wants_gzip = "gzip" in request.headers.get("accept-encoding", "")
    if not wants_gzip or len(raw) < GZIP_MIN_BYTES:
        return Response(raw, media_type="application/json", headers={"vary": "Accept-Encoding"})
    compressed = entry[1]
    if compressed is None:
        compressed = await run_in_threadpool(gzip.compress, raw, 5, mtime=0)
        cache.add_gzip(key, entry, compressed)
    return Response(
        compressed,
        media_type="application/json",
        headers={"content-encoding": "gzip", "vary": "Accept-Encoding"},
    )
