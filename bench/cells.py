"""Every trace engine against its own torch module's forward: T=500, H=128, one thread.

    .venv/bin/python bench/cells.py [--rounds 15] [--reps 20]

Engines (app/nets): LSTM, GRU, RNN tanh, RNN relu, and the step-loop engines of Keras layers
torch has no module for (app/nets/keras_cells.py: an LSTM with hard_sigmoid gates, a GRU with
reset_after=False, a SimpleRNN with sigmoid), timed against the torch module of their kind; a step
loop cannot meet the fused engines' budget, and is priced per step instead. Each is timed two
ways against ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` forward on the same 500 inputs: token inputs
through the engine's input tables (layer 0's input part a lookup, as the API traces an embedding
model) and generic inputs
(a matmul). The modules are seeded and untrained (input 64 as the shipped char model's embedding,
hidden 128, one layer); they read 500 characters of held-out Shakespeare through a seeded
embedding. Every call of every side is interleaved with the others in rounds, in a shuffled order
(``bench.interleave``), in one process with the server's runtime set-up (one thread, malloc
thresholds). Prints, per engine, the median of the
per-round ratios (each round: the trace's median time over its anchor's), their spread over the
rounds and the absolute medians; thread CPU time is the headline, wall clock follows.
"""

from __future__ import annotations

import os
import sys

# bench/http.py shares its name with the standard library's `http` (which torch imports); when a
# script here is run by path, this folder is first on sys.path, so drop it first.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import runtime  # noqa: E402
from app.nets.engines import input_tables, trace_recurrent  # noqa: E402
from app.nets.keras_cells import KerasRecurrent  # noqa: E402
from app.tasks.shakespeare import split  # noqa: E402
from app.tasks.vocab import Vocab  # noqa: E402
from bench import interleave, rounds_parser  # noqa: E402

T, H, E = 500, 128, 64
MODULES: dict[str, Callable[[], nn.Module]] = {
    "LSTM": lambda: nn.LSTM(E, H),
    "GRU": lambda: nn.GRU(E, H),
    "RNN tanh": lambda: nn.RNN(E, H, nonlinearity="tanh"),
    "RNN relu": lambda: nn.RNN(E, H, nonlinearity="relu"),
}
# Keras layers torch has no module for: the step-loop engines, each against its kind's torch module.
KERAS: dict[str, tuple[Callable[[], nn.Module], Callable[[], nn.Module]]] = {
    "Keras LSTM hard_sigmoid": (
        lambda: KerasRecurrent("lstm", E, H, recurrent_activation="hard_sigmoid"),
        lambda: nn.LSTM(E, H),
    ),
    "Keras GRU reset_after=False": (
        lambda: KerasRecurrent("gru", E, H, reset_after=False),
        lambda: nn.GRU(E, H),
    ),
    "Keras SimpleRNN sigmoid": (
        lambda: KerasRecurrent("simple_rnn", E, H, activation="sigmoid"),
        lambda: nn.RNN(E, H),
    ),
}


def main() -> int:
    args = rounds_parser(__doc__).parse_args()
    runtime.configure(1)

    train, held_out = split()
    vocab = Vocab.build(train, specials={"unk": "\ufffd"})
    ids = torch.tensor(vocab.encode(held_out[5000 : 5000 + T]).ids)
    sides: dict[str, Callable[[], Any]] = {}
    with torch.inference_mode():
        torch.manual_seed(0)
        embedding = nn.Embedding(len(vocab), E)
        x = embedding(ids)  # (T, E)
        batch = x[:, None]  # (T, 1, E): the module's own layout
        makers = {**{n: (m, m) for n, m in MODULES.items()}, **KERAS}
        for name, (make, make_anchor) in makers.items():
            module, anchor = make().eval(), make_anchor().eval()
            if name in KERAS:  # a KerasRecurrent starts at zero: torch's default init instead
                module.load_state_dict(anchor.state_dict())
            tables = input_tables(module, embedding.weight)
            sides[f"{name} anchor"] = lambda m=anchor: m(batch)
            sides[f"{name} table"] = lambda m=module, t=tables: trace_recurrent(m, x, ids=ids, tables=t)
            sides[f"{name} generic"] = lambda m=module: trace_recurrent(m, x)
        for fn in sides.values():  # warm up kernels, weight caches and the allocator
            for _ in range(10):
                fn()
        medians = interleave(sides, args.rounds, args.reps)

    print(
        f"Trace engines vs their modules: T={T}, H={H}, input {E}, one layer, one thread; "
        f"{args.rounds} rounds x {args.reps} calls of each of {len(sides)} sides, interleaved"
    )
    for clock, title in (("cpu", "thread CPU time"), ("wall", "wall clock")):
        print(f"  {title}:")
        for name in makers:
            anchor = medians[clock][f"{name} anchor"]
            label = f"{name}: its kind's module (anchor)" if name in KERAS else f"{name} forward (anchor)"
            print(f"    {label:48s} {statistics.median(anchor):7.3f} ms   1.00x")
            for path, label in (
                ("table", "trace, token inputs (tables)"),
                ("generic", "trace, generic inputs"),
            ):
                times = medians[clock][f"{name} {path}"]
                ratios = [t / a for t, a in zip(times, anchor, strict=True)]
                print(
                    f"      {label:46s} {statistics.median(times):7.3f} ms   {statistics.median(ratios):.2f}x"
                    f"  (rounds: min {min(ratios):.2f}x, max {max(ratios):.2f}x)"
                )
    print("  budget: <= 1.5x the module's forward, each fused engine; step loops: priced per step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
