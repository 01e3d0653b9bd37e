"""Process set-up shared by the server, training and benchmarks: torch threads and malloc.

* ``torch.set_num_threads(1)``: on a shared 2-core box, 2 torch threads stall 100–1000× whenever
  another process holds a core. One thread per process; scale with uvicorn workers instead.
* glibc malloc: arrays above 128 KB are normally mmap'ed fresh and unmapped on free, so every
  trace pays page faults on ~1 MB of new memory (measured: the LSTM trace ran ~1.6× slower).
  Raising the mmap and trim thresholds keeps such blocks in the heap for reuse; capping the
  number of arenas at 2 stops each threadpool thread from keeping its own copy of that memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_configured = False


def configure(threads: int = 1) -> None:
    """Set torch threads and malloc thresholds once per process (idempotent)."""
    global _configured
    torch.set_num_threads(threads)
    if _configured:
        return
    _configured = True
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started: harmless
        pass
    name = ctypes.util.find_library("c")
    if name:
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt(_M_MMAP_THRESHOLD, 64 * 2**20)
            libc.mallopt(_M_TRIM_THRESHOLD, 128 * 2**20)
            libc.mallopt(_M_ARENA_MAX, 2)  # threadpool threads share arenas: RSS stays bounded
        except (OSError, AttributeError):  # not glibc: keep the defaults
            log.debug("mallopt unavailable; keeping malloc defaults")


def warm_up(registry: Any) -> None:
    """Run each usable net once on a tiny input, so the first user request does not pay for
    oneDNN kernel creation and lazy caches. Failures here only cost that speed-up."""
    for entry in registry:
        warm = getattr(entry.net, "warm_up", None)
        if entry.available and callable(warm):
            try:
                with torch.inference_mode():
                    warm()
            except Exception:  # a warm-up problem must never stop the server
                log.exception("warm-up of %s failed", entry.name)
