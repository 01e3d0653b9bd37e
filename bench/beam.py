"""Beam search (width 5, full tree recorded) vs greedy, and vs a decoder call per hypothesis.

    .venv/bin/python bench/beam.py [--rounds 15] [--reps 20] [--model idioms] [--text "..."]

All three decode the same source with the same shipped seq2seq net through the same
``Seq2SeqDecoder`` (app/decoding.py), interleaved in rounds, in one process with one torch thread:

* anchor: ``greedy`` — one decoder call per output token, one row;
* ``beam_search(k=5)`` — one batched decoder call per step for all live beams, recording every
  candidate of the tree (parents, tokens, log-probs, scores, kept/finished/rank);
* the same, plus turning the tree into the API's dicts (``BeamResult.tree()``);
* naive: the same search, but one decoder call per live hypothesis (B = 1 each), the way a
  beam search over an unbatched step function runs.

Calls are interleaved one by one (greedy, beam, beam + dicts, naive, greedy, …), each timed twice:
wall clock (``perf_counter``) and this thread's CPU time (``thread_time``), which does not count the
time the scheduler gives the core to other processes — on a shared, loaded machine the CPU-time
ratios are the steadier ones. Prints, for both clocks, the median of the per-round ratios (each
round: the ratio of the sides' median times), their min/max over rounds, and the absolute medians.
"""

from __future__ import annotations

import os
import sys

# bench/http.py shares its name with the standard library's `http` (which torch and httpx import);
# when a script here is run by path, this folder is first on sys.path, so drop it first.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import runtime  # noqa: E402
from app.checkpoints import Registry  # noqa: E402
from app.decoding import Seq2SeqDecoder, beam_search, greedy  # noqa: E402
from app.nets.seq2seq import DecoderState, Seq2Seq  # noqa: E402
from app.tasks.vocab import Vocab  # noqa: E402
from bench import timed  # noqa: E402

K = 5
DEFAULT_TEXT = {"idioms": "mirar pasear descansar hablar", "dates": "vendredi 27 novembre 2026"}


class PerHypothesis:
    """The same decoder, called once per row: what beam search costs without batching."""

    def __init__(self, inner: Seq2SeqDecoder) -> None:
        self.inner, self.bos, self.eos = inner, inner.bos, inner.eos

    def initial(self) -> DecoderState:
        return self.inner.initial()

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        outs = [
            self.inner.step(tokens[b : b + 1], state.select(torch.tensor([b]))) for b in range(len(tokens))
        ]
        logp = torch.cat([o[0] for o in outs])
        return logp, DecoderState(
            torch.cat([o[1].hidden for o in outs]), torch.cat([o[1].cell for o in outs])
        )

    def select(self, state: DecoderState, rows: Tensor) -> DecoderState:
        return state.select(rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default: %(default)s)")
    parser.add_argument(
        "--reps", type=int, default=20, help="calls per round and side (default: %(default)s)"
    )
    parser.add_argument("--model", default="idioms", help="shipped seq2seq model (default: %(default)s)")
    parser.add_argument("--text", default=None, help="source text (default: an example for the model)")
    parser.add_argument("--max-length", type=int, default=64, help="decode limit (default: %(default)s)")
    args = parser.parse_args()
    runtime.configure(1)

    models = Path(__file__).resolve().parent.parent / "models"
    entry = Registry.from_paths(models).get(args.model)
    if entry is None or not entry.available or not isinstance(entry.net, Seq2Seq):
        print(f"model {args.model!r} is not available in {models}", file=sys.stderr)
        return 1
    net = entry.net
    source = Vocab.from_dict(entry.checkpoint["vocab"]["source"])
    target = Vocab.from_dict(entry.checkpoint["vocab"]["target"])
    text = args.text or DEFAULT_TEXT.get(args.model, "27 Nov 2026")
    with torch.inference_mode():
        memory = net.encode(torch.tensor(source.encode(text).ids))
        decoder = Seq2SeqDecoder(net, memory)
        naive_decoder = PerHypothesis(decoder)
        L = args.max_length

        sides: dict[str, Callable[[], Any]] = {
            "greedy": lambda: greedy(decoder, L),
            "beam": lambda: beam_search(decoder, K, L),
            "beam+dicts": lambda: beam_search(decoder, K, L).tree(),
            "naive": lambda: beam_search(naive_decoder, K, L),
        }
        g = greedy(decoder, L)
        b = beam_search(decoder, K, L)
        n = beam_search(naive_decoder, K, L)
        assert [h.tokens for h in n.hypotheses] == [h.tokens for h in b.hypotheses]
        for fn in sides.values():  # warm up kernels and caches
            for _ in range(10):
                fn()
        clocks = ("wall", "cpu")
        rows: dict[str, dict[str, list[float]]] = {c: {key: [] for key in sides} for c in clocks}
        ratios: dict[str, dict[str, list[float]]] = {c: {key: [] for key in sides} for c in clocks}
        for _ in range(args.rounds):
            samples: dict[str, list[tuple[float, float]]] = {key: [] for key in sides}
            for _ in range(args.reps):
                for key, fn in sides.items():  # interleaved call by call
                    samples[key].append(timed(fn))
            for c, clock in enumerate(clocks):
                med = {key: statistics.median(x[c] for x in v) for key, v in samples.items()}
                for key in sides:
                    rows[clock][key].append(med[key])
                    ratios[clock][key].append(med[key] / med["greedy"])

    candidates = sum(len(s) for s in b.steps)
    print(
        f"Beam search benchmark: model {args.model}, source {text!r}, k={K}, one thread; "
        f"greedy {len(g.tokens)} steps, beam {len(b.steps)} steps, {candidates} candidates in the tree "
        f"(stopped: {b.stop_reason}); {args.rounds} rounds x {args.reps} interleaved calls"
    )
    labels = {
        "greedy": "greedy (anchor)",
        "beam": "beam k=5, tree recorded",
        "beam+dicts": "beam k=5, tree as API dicts",
        "naive": "naive: one call per hypothesis",
    }
    for clock, title in (("cpu", "thread CPU time"), ("wall", "wall clock")):
        print(f"  {title}:")
        for key, label in labels.items():
            med = statistics.median(rows[clock][key])
            r = ratios[clock][key]
            spread = "" if key == "greedy" else f"  (rounds: min {min(r):.2f}x, max {max(r):.2f}x)"
            print(f"    {label:35s} {med:8.3f} ms   {statistics.median(r):.2f}x{spread}")
    print(f"  greedy: {target.decode(g.tokens)!r}   beam best: {target.decode(b.hypotheses[0].tokens)!r}")
    print("  budget: beam k=5 with its tree <= 1.5x greedy; reference: one call per hypothesis 3.75x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
