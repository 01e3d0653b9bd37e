"""HTTP throughput and latency of the real server on loopback, against GET /api/health in the same run.

    .venv/bin/python bench/http.py [--seconds 5] [--connections 16] [--workers 1 2]

For each worker count, a fresh `recurrent-lens serve` (no access log) is measured with wrk (Debian
`wrk`; an async httpx loop when wrk is missing):

* GET /api/health — the anchor;
* POST /api/lstm/trace with a 50-character text: the SAME body every time (what a class opening
  one link does; the response cache answers) and a DIFFERENT random text every time (the compute
  path: trace, rounding, JSON);
* POST /api/seq2seq/translate (dates), same and different bodies;
* /api/health latency p50/p99 from one extra connection WHILE the unique-text trace load runs;
* the server's RSS with every shipped model loaded, idle and after the load (per worker).

Budgets (DESIGN.md): trace ≥ 1,000 req/s on one worker; /api/health p99 ≤ 5 ms under trace load;
≤ 500 MB per worker. Each run is bounded by --seconds.
"""

from __future__ import annotations

import os
import sys

# bench/http.py shares its name with the standard library's `http` (which torch and httpx import);
# when a script here is run by path, this folder is first on sys.path, so drop it first.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]


import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TEXT50 = "To be, or not to be, that is the question: whethe"
ALPHABET = "abcdefghijklmnopqrstuvwxyz      ,.;:'!?ETAOINSHRDLU"

LUA_SAME = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
"""
LUA_UNIQUE = """
local alphabet = "%(alphabet)s"
local n = %(length)d
math.randomseed(%(seed)d)
request = function()
  local t = {}
  for i = 1, n do local k = math.random(#alphabet); t[i] = alphabet:sub(k, k) end
  local body = '{"model":"%(model)s","text":"' .. table.concat(t) .. '"}'
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class Result:
    rps: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    requests: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> list[float]:
    """RSS of the uvicorn worker processes (the children, or the process itself with one worker)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids = [int(c) for c in children] or [pid]
    except OSError:
        pass
    out = []
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    # Only worker processes that loaded the models (the reloader/manager process is small).
    return [r for r in out if r > 100] or out


def parse_wrk(text: str) -> Result:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())

    def pct(p: str) -> float | None:
        mm = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if not mm:
            return None
        value, unit = float(mm.group(1)), mm.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return Result(rps, pct("50"), pct("99"), errors, total)


def wrk(url: str, seconds: float, connections: int, script: str | None = None, threads: int = 1) -> Result:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        if script:
            f.write(script)
            cmd += ["-s", f.name]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60)
    os.unlink(f.name)
    return parse_wrk(out.stdout)


async def _httpx_load(url: str, seconds: float, connections: int, make_body) -> Result:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            body = make_body()
            start = time.perf_counter()
            try:
                r = await (client.post(url, json=body) if body is not None else client.get(url))
                if r.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=connections)) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
    return Result(len(latencies) / elapsed, q(0.5), q(0.99), errors, len(latencies))


def load(url: str, seconds: float, connections: int, body: dict | None, unique: str | None = None) -> Result:  # type: ignore[type-arg]
    """One bounded load run: GET when body is None; POST body (same each time) or unique texts."""
    path = "/" + url.split("/", 3)[3]
    if shutil.which("wrk"):
        if body is None:
            return wrk(url, seconds, connections)
        if unique:
            script = LUA_UNIQUE % {
                "alphabet": ALPHABET,
                "length": 50 if unique == "lstm" else 11,
                "seed": 1,
                "model": body["model"],
                "path": path,
            }
        else:
            script = LUA_SAME % {"body": json.dumps(body)}
        return wrk(url, seconds, connections, script)
    rng = random.Random(1)

    def make() -> dict | None:  # type: ignore[type-arg]
        if body is None or not unique:
            return body
        n = 50 if unique == "lstm" else 11
        return {**body, "text": "".join(rng.choice(ALPHABET) for _ in range(n))}

    return asyncio.run(_httpx_load(url, seconds, connections, make))


def measure(workers: int, seconds: float, connections: int) -> dict[str, object]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RLENS_UPLOAD_DIR": tempfile.mkdtemp(prefix="rlens-bench-")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.perf_counter()
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=1).json()["models"] > 0:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.perf_counter() - started > 60:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        ready = time.perf_counter() - started
        time.sleep(1.0)  # let every worker finish its warm-up
        idle = rss_mb(server.pid)
        trace_same = {"model": "shakespeare-char", "text": TEXT50}
        translate_same = {"model": "dates", "text": "27 Nov 2026"}
        results: dict[str, object] = {"workers": workers, "ready_s": ready, "rss_idle_mb": idle}
        results["health"] = load(base + "/api/health", seconds, connections, None)
        results["trace_same"] = load(base + "/api/lstm/trace", seconds, connections, trace_same)
        results["trace_unique"] = load(
            base + "/api/lstm/trace", seconds, connections, trace_same, unique="lstm"
        )
        results["translate_same"] = load(
            base + "/api/seq2seq/translate", seconds, connections, translate_same
        )
        results["translate_unique"] = load(
            base + "/api/seq2seq/translate", seconds, connections, translate_same, unique="dates"
        )
        # /api/health latency from one more connection while the trace endpoint is loaded.
        with subprocess.Popen(
            [sys.executable, __file__, "--_background-load", base, str(seconds + 2), str(connections)]
        ) as bg:
            time.sleep(1.0)
            results["health_under_load"] = load(base + "/api/health", seconds, 1, None)
            bg.wait(seconds + 120)
        results["rss_after_mb"] = rss_mb(server.pid)
        return results
    finally:
        server.terminate()
        server.wait(20)


def import_seconds() -> float:
    """The start-up anchor: a fresh interpreter importing fastapi and torch, nothing else."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import fastapi, torch"], check=True, cwd=ROOT)
    return time.perf_counter() - started


def print_results(r: dict[str, object], anchor_s: float) -> None:
    health = r["health"]
    assert isinstance(health, Result)
    ready = float(r["ready_s"])  # type: ignore[arg-type]
    print(
        f"\n== {r['workers']} worker(s); ready in {ready:.2f} s "
        f"({ready / anchor_s:.2f}x `import fastapi, torch` alone, {anchor_s:.2f} s; budget ready <= 2.5 s)"
    )
    print(f"  {'route':44s} {'req/s':>9s} {'vs health':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}")
    rows = [
        ("GET /api/health (anchor)", "health"),
        ("POST /api/lstm/trace, 50 chars, same body", "trace_same"),
        ("POST /api/lstm/trace, 50 chars, unique", "trace_unique"),
        ("POST /api/seq2seq/translate, same body", "translate_same"),
        ("POST /api/seq2seq/translate, unique", "translate_unique"),
        ("GET /api/health during trace load (1 conn)", "health_under_load"),
    ]
    for label, key in rows:
        res = r[key]
        assert isinstance(res, Result)
        p50 = f"{res.p50_ms:.2f}" if res.p50_ms is not None else "–"
        p99 = f"{res.p99_ms:.2f}" if res.p99_ms is not None else "–"
        print(
            f"  {label:44s} {res.rps:9.0f} {res.rps / health.rps:9.3f}x {p50:>8s} {p99:>8s} {res.errors:7d}"
        )
    idle = ", ".join(f"{x:.0f}" for x in r["rss_idle_mb"])  # type: ignore[attr-defined]
    after = ", ".join(f"{x:.0f}" for x in r["rss_after_mb"])  # type: ignore[attr-defined]
    print(f"  RSS per worker: idle {idle} MB; after the load {after} MB (budget 500 MB)")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--_background-load":
        base, seconds, connections = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
        load(
            base + "/api/lstm/trace",
            seconds,
            connections,
            {"model": "shakespeare-char", "text": TEXT50},
            unique="lstm",
        )
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=5, help="length of each load run (default: %(default)s)"
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="concurrent connections (default: %(default)s)"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure (default: 1 2)"
    )
    args = parser.parse_args()
    tool = "wrk" if shutil.which("wrk") else "httpx async loop (install Debian wrk for better numbers)"
    print(f"HTTP benchmark on loopback with {tool}; {os.cpu_count()} CPUs; {args.seconds:g} s per run")
    for workers in args.workers:
        anchor_s = import_seconds()
        print_results(measure(workers, args.seconds, args.connections), anchor_s)
    print(
        "\nbudgets: trace >= 1000 req/s on one worker; /api/health p99 <= 5 ms under trace load; "
        "<= 500 MB/worker"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
