"""LSTM gate trace vs nn.LSTM forward alone: T=500, H=128, one thread.

    .venv/bin/python bench/lstm_trace.py [--rounds 15] [--reps 20]

The trace (app/nets/lstm.py) returns f, i, g̃, o, c and h for every step; the anchor is the
`nn.LSTM` forward that returns only h (and the final c). Both run on the same input, interleaved
in rounds, in one process with the server's runtime set-up (one thread, malloc thresholds).
Prints the median of the per-round ratios, and the absolute medians. Two ways: interleaved call
by call in a shuffled order (each call starts with caches another side filled, as in a server;
``bench.interleave``) and in blocks of back-to-back calls of one side (warm caches); both are
printed, the first is the headline.

Two trace paths are measured: the shipped char model's (layer 0's input projection is a lookup
in a per-character table, as the API does) and the generic one (any inputs, a matmul).
"""

from __future__ import annotations

import os
import sys

# bench/http.py shares its name with the standard library's `http` (which torch and httpx import);
# when a script here is run by path, this folder is first on sys.path, so drop it first.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import runtime  # noqa: E402
from app.checkpoints import Registry  # noqa: E402
from app.nets.char_lm import CharLM  # noqa: E402
from app.nets.lstm import trace_lstm  # noqa: E402
from app.tasks.shakespeare import split  # noqa: E402
from app.tasks.vocab import Vocab  # noqa: E402
from bench import interleave, rounds_parser, timed  # noqa: E402

T, H = 500, 128


def main() -> int:
    args = rounds_parser(__doc__).parse_args()
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
        sides = {"anchor": anchor, "table": trace_table, "generic": trace_generic}
        rows = interleave(sides, args.rounds, args.reps)  # clock → side → per-round medians
        # Second measure: each side in a block of `reps` back-to-back calls (warm caches, the
        # steady state of one operation), blocks alternating; thread CPU time.
        block_ratios: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(args.rounds):
            blocks = {k: statistics.median(timed(fn)[1] for _ in range(args.reps)) for k, fn in sides.items()}
            for k in sides:
                block_ratios[k].append(blocks[k] / blocks["anchor"])
    ratios = {
        clock: {k: [t / a for t, a in zip(v, per_side["anchor"], strict=True)] for k, v in per_side.items()}
        for clock, per_side in rows.items()
    }

    print(
        f"LSTM trace benchmark: T={T}, H={H}, input {x.shape[1]}, one thread; model: {source}; "
        f"{args.rounds} rounds x {args.reps} interleaved calls"
    )
    labels = {
        "anchor": "anchor nn.LSTM forward alone",
        "table": "trace (char model, table path)",
        "generic": "trace (generic inputs)",
    }
    for clock, title in (("cpu", "thread CPU time"), ("wall", "wall clock")):
        print(f"  {title}:")
        for k, label in labels.items():
            r = ratios[clock][k]
            spread = "" if k == "anchor" else f"  (rounds: min {min(r):.2f}x, max {max(r):.2f}x)"
            med = statistics.median(rows[clock][k])
            print(f"    {label:32s} {med:7.3f} ms   {statistics.median(r):.2f}x{spread}")
    print("  in blocks of back-to-back calls (warm caches), thread CPU time:")
    for k in ("table", "generic"):
        r = block_ratios[k]
        print(
            f"    {labels[k]:32s} {statistics.median(r):.2f}x  (rounds: min {min(r):.2f}x, max {max(r):.2f}x)"
        )
    print("  budget: <= 1.5x nn.LSTM forward")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
