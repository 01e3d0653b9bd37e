"""Benchmark scripts (run by path or with ``python -m bench.NAME``) and what they share."""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall ms, this thread's CPU ms) of one call."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3


def interleave(
    sides: dict[str, Callable[[], Any]], rounds: int, reps: int
) -> dict[str, dict[str, list[float]]]:
    """Time every side ``reps`` times a round, call by call, in a fresh shuffled order each time.

    Interleaving makes noise from other processes hit every side alike; shuffling (seeded) gives
    every side every predecessor, so none always inherits the caches another side just filled.
    Returns clock ("wall", "cpu") → side → that side's median time (ms) in each round.
    """
    order = random.Random(0)
    keys = list(sides)
    medians: dict[str, dict[str, list[float]]] = {c: {k: [] for k in sides} for c in ("wall", "cpu")}
    for _ in range(rounds):
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
        for _ in range(reps):
            order.shuffle(keys)
            for key in keys:
                samples[key].append(timed(sides[key]))
        for c, clock in enumerate(("wall", "cpu")):
            for key, times in samples.items():
                medians[clock][key].append(statistics.median(t[c] for t in times))
    return medians


def rounds_parser(doc: str | None, rounds: int = 15, reps: int = 20) -> argparse.ArgumentParser:
    """The command line of an interleaved benchmark: its docstring, ``--rounds`` and ``--reps``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rounds", type=int, default=rounds, help="interleaved rounds (default: %(default)s)"
    )
    parser.add_argument(
        "--reps", type=int, default=reps, help="calls per round and side (default: %(default)s)"
    )
    return parser
