"""Encoding of the trace response: orjson (the app's encoder) against stdlib json, and its size.

    .venv/bin/python bench/serialization.py

The LSTM trace endpoint spends most of its time encoding floats. Measured on the real response
content for 50 and 200 characters of Shakespeare: encode time with orjson (numpy arrays written
natively, floats rounded to 4 significant digits) against stdlib ``json.dumps`` of the same content
as Python lists, and the body size raw and gzipped (level 5, as the server sends it). Budget: the
200-character trace ≤ 400 KB gzipped.
"""

from __future__ import annotations

import os
import sys

# bench/http.py shares its name with the standard library's `http` (which torch and httpx import);
# when a script here is run by path, this folder is first on sys.path, so drop it first.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import gzip
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import runtime  # noqa: E402
from app.api.encoding import dumps  # noqa: E402
from app.api.routes.lstm import TraceRequest, _trace  # noqa: E402
from app.checkpoints import Registry  # noqa: E402
from app.config import REPO_ROOT, Settings  # noqa: E402
from app.tasks.shakespeare import split  # noqa: E402


def to_lists(obj: object) -> object:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return {k: to_lists(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_lists(v) for v in obj]
    return obj


def median_ms(fn, reps: int = 30) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> int:
    runtime.configure(1)
    entry = Registry.from_paths(REPO_ROOT / "models").get("shakespeare-char")
    assert entry is not None and entry.available, "models/shakespeare-char.pt is needed"
    held_out = split()[1]
    print("Trace response encoding (shakespeare-char, unit detail included)")
    for n in (50, 200):
        body = TraceRequest(model="shakespeare-char", text=held_out[3000 : 3000 + n], unit=0)
        content = _trace(body, entry, Settings())
        plain = to_lists(content)
        ours = median_ms(lambda: dumps(content))  # noqa: B023
        stdlib = median_ms(lambda: json.dumps(plain, ensure_ascii=False).encode())  # noqa: B023
        raw = dumps(content)
        zipped = gzip.compress(raw, compresslevel=5)
        print(
            f"  {n:3d} chars: orjson {ours:6.2f} ms, stdlib json {stdlib:6.2f} ms "
            f"({stdlib / ours:.1f}x slower); "
            f"{len(raw) / 1024:6.0f} KB raw, {len(zipped) / 1024:5.0f} KB gzipped"
            + ("  (budget <= 400 KB gzipped)" if n == 200 else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
