"""LSTM gate trace vs nn.LSTM forward alone: T=500, H=128, one thread.

    .venv/bin/python bench/lstm_trace.py [--rounds 15] [--reps 20]

The trace (app/nets/lstm.py) returns f, i, g̃, o, c and h for every step; the anchor is the
`nn.LSTM` forward that returns only h (and the final c). Both run on the same input, interleaved
in rounds, in one process with the server's runtime set-up (one thread, malloc thresholds).
Prints the median of the per-round ratios, and the absolute medians.

Two trace paths are measured: the shipped char model's (layer 0's input projection is a lookup
in a per-character table, as the API does) and the generic one (any inputs, a matmul).
"""

from __future__ import annotations

import os
import sys

# bench/http.py shares its name with the standard library's `http` (which torch and httpx import);
# when a script here is run by path, this folder is first on sys.path, so drop it first.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import runtime  # noqa: E402
from app.checkpoints import Registry  # noqa: E402
from app.nets.char_lm import CharLM  # noqa: E402
from app.nets.lstm import trace_lstm  # noqa: E402
from app.tasks.shakespeare import split  # noqa: E402
from app.tasks.vocab import Vocab  # noqa: E402

T, H = 500, 128


def median_ms(fn, reps: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default: %(default)s)")
    parser.add_argument(
        "--reps", type=int, default=20, help="calls per round and side (default: %(default)s)"
    )
    args = parser.parse_args()
    runtime.configure(1)

    entry = Registry.from_paths(Path(__file__).resolve().parent.parent / "models").get("shakespeare-char")
    if entry is not None and entry.available and isinstance(entry.net, CharLM):
        net, vocab, source = (
            entry.net,
            Vocab.from_dict(entry.checkpoint["vocab"]),
            "models/shakespeare-char.pt",
        )
    else:
        torch.manual_seed(0)
        vocab = Vocab.build(split()[0], specials={"unk": "\ufffd"})
        net, source = CharLM(len(vocab), hidden_size=H).eval(), "an untrained CharLM (no shipped checkpoint)"
    assert net.lstm.hidden_size == H
    text = split()[1][5000 : 5000 + T]
    ids = torch.tensor(vocab.encode(text).ids)
    with torch.inference_mode():
        x = net.embed(ids)  # (T, E)
        x3 = x[:, None]  # (T, 1, E)
        tables = net._input_tables()

        def anchor() -> object:
            return net.lstm(x3)

        def trace_table() -> object:
            return trace_lstm(net.lstm, x, ids=ids, tables=tables)

        def trace_generic() -> object:
            return trace_lstm(net.lstm, x)

        for fn in (anchor, trace_table, trace_generic):  # warm up kernels and caches
            for _ in range(10):
                fn()
        rows: dict[str, list[float]] = {"anchor": [], "table": [], "generic": []}
        ratios: dict[str, list[float]] = {"table": [], "generic": []}
        for _ in range(args.rounds):
            a = median_ms(anchor, args.reps)
            t1 = median_ms(trace_table, args.reps)
            t2 = median_ms(trace_generic, args.reps)
            rows["anchor"].append(a)
            rows["table"].append(t1)
            rows["generic"].append(t2)
            ratios["table"].append(t1 / a)
            ratios["generic"].append(t2 / a)

    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"LSTM trace benchmark: T={T}, H={H}, input {x.shape[1]}, one thread; model: {source}")
    print(f"  anchor nn.LSTM forward alone     {med['anchor']:7.3f} ms   1.00x")
    for key, label in (("table", "trace (char model, table path)"), ("generic", "trace (generic inputs)")):
        r = ratios[key]
        print(
            f"  {label:32s} {med[key]:7.3f} ms   {statistics.median(r):.2f}x"
            f"  (rounds: min {min(r):.2f}x, max {max(r):.2f}x)"
        )
    print("  budget: <= 1.5x nn.LSTM forward")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
