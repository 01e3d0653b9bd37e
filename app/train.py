"""Training: the registry of recipes, and the shared loop every recipe uses.

``recurrent-lens train NAME`` rebuilds a shipped model from its seed on one CPU core, with a tqdm
bar that shows the loss and the task metric, and writes ``models/NAME.pt``. The same seed gives
the same weights: torch runs on one thread, every random choice comes from generators seeded here,
and data generators take their own seeded ``random.Random``.

A recipe is a function ``run(r: Run) -> dict`` registered with ``@recipe(...)``; it builds data
and a net, trains with ``fit()`` (or its own loop, reporting through ``r``), measures metrics on
held-out data and returns the checkpoint fields. ``Run.checkpoint()`` assembles the rest.
Recipes live in ``app/recipes/``, one module per family of models.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
import shlex
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from app import runtime
from app.checkpoints import FORMAT_VERSION, save


@dataclass(frozen=True)
class Recipe:
    """How to rebuild one shipped model."""

    name: str
    kind: str  # key into app.nets.NETS
    task: str
    description: str
    steps: int  # default training steps
    data: str  # where the training data comes from (provenance)
    run: Callable[[Run], dict[str, Any]]
    dry_steps: int = 3  # steps for --dry-run (tests)


RECIPES: dict[str, Recipe] = {}


def recipe(
    name: str, *, kind: str, task: str, description: str, steps: int, data: str, dry_steps: int = 3
) -> Callable[[Callable[[Run], dict[str, Any]]], Callable[[Run], dict[str, Any]]]:
    """Register a recipe function under ``name``."""

    def register(fn: Callable[[Run], dict[str, Any]]) -> Callable[[Run], dict[str, Any]]:
        if name in RECIPES:
            raise ValueError(f"recipe {name!r} registered twice")
        RECIPES[name] = Recipe(name, kind, task, description, steps, data, fn, dry_steps)
        return fn

    return register


def all_recipes() -> dict[str, Recipe]:
    """Every recipe (importing app.recipes registers them)."""
    import app.recipes  # noqa: F401  (registration side effect)

    return RECIPES


@dataclass
class Run:
    """What a recipe gets: its step budget and seed, seeded generators, progress and history."""

    recipe: Recipe
    steps: int
    seed: int
    dry_run: bool = False
    quiet: bool = False
    rng: random.Random = field(init=False)
    history: dict[str, list[float]] = field(default_factory=dict)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    _bar: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A torch generator seeded from the run's seed (offset separates independent streams)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + offset)

    def progress(self, total: int | None = None, desc: str | None = None) -> Iterator[int]:
        """Iterate over steps 1..total with a progress bar."""
        total = self.steps if total is None else total
        self._bar = tqdm(
            range(1, total + 1),
            desc=desc or self.recipe.name,
            disable=self.quiet,
            dynamic_ncols=True,
            mininterval=0.5,
            unit="step",
        )
        return iter(self._bar)

    def log(self, step: int, **values: float) -> None:
        """Record values in the history and show them on the progress bar."""
        self.history.setdefault("step", []).append(step)
        for key, value in values.items():
            self.history.setdefault(key, []).append(float(value))
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)

    def snapshot(self, step: int, net: nn.Module, metrics: dict[str, Any] | None = None) -> None:
        """Keep a copy of the weights at ``step`` (stored in the checkpoint's ``snapshots``)."""
        state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        self.snapshots.append({"step": step, "state_dict": state, "metrics": metrics or {}})

    def checkpoint(
        self,
        net: nn.Module,
        config: dict[str, Any],
        vocab: dict[str, Any],
        metrics: dict[str, Any],
        **extra: Any,
    ) -> dict[str, Any]:
        """The checkpoint fields a recipe returns (train() adds provenance)."""
        out = {
            "config": config,
            "vocab": vocab,
            "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
            "metrics": metrics,
            "history": self.history,
            "snapshots": self.snapshots,
        }
        out.update(extra)
        return out


def snapshot_steps(total: int, count: int = 8) -> set[int]:
    """``count`` steps spread geometrically over training (alignment forms early, so sample early)."""
    if total <= count:
        return set(range(1, total + 1))
    steps = {max(1, round(total ** (i / (count - 1)))) for i in range(count)}
    return steps | {total}


def fit(
    r: Run,
    net: nn.Module,
    loss_fn: Callable[[int], tuple[torch.Tensor, dict[str, float]]],
    *,
    lr: float,
    weight_decay: float = 0.0,
    clip: float = 1.0,
    warmup: int = 0,
    decay: bool = True,
    floor: float = 0.1,
    log_every: int = 10,
    evaluate: Callable[[], dict[str, float]] | None = None,
    eval_every: int = 0,
    snapshots: Iterable[int] = (),
    snapshot_metrics: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """The shared loop: Adam, gradient clipping, warm-up then cosine decay, progress and history.

    The cosine decay ends at ``floor`` × ``lr`` on the last step.

    ``loss_fn(step)`` samples a batch, runs the net and returns (loss, metrics to show).
    """
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    total = r.steps

    def lr_at(step: int) -> float:
        if warmup and step <= warmup:
            return lr * step / warmup
        if not decay:
            return lr
        progress = (step - warmup) / max(1, total - warmup)
        return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    wanted = set(snapshots)
    running: dict[str, float] = {}
    for step in r.progress(total):
        net.train()
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss, shown = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        values = {"loss": float(loss.detach()), **shown}
        for k, v in values.items():  # exponential moving average for a calm progress bar
            running[k] = v if k not in running else 0.9 * running[k] + 0.1 * v
        if step % log_every == 0 or step == total:
            r.log(step, **running)
        if evaluate is not None and eval_every and (step % eval_every == 0 or step == total):
            net.eval()
            with torch.no_grad():
                r.log(step, **evaluate())
        if step in wanted:
            net.eval()
            with torch.no_grad():
                r.snapshot(step, net, snapshot_metrics() if snapshot_metrics else None)
    net.eval()


def train(
    name: str,
    steps: int | None = None,
    seed: int = 0,
    out: Path | None = None,
    dry_run: bool = False,
    quiet: bool = False,
) -> Path:
    """Run a recipe and write its checkpoint; returns the path written."""
    recipes = all_recipes()
    if name not in recipes:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(sorted(recipes))}")
    rec = recipes[name]
    runtime.configure(1)
    torch.manual_seed(seed)
    random.seed(seed)
    n_steps = steps if steps is not None else (rec.dry_steps if dry_run else rec.steps)
    if out is None:
        from app.config import get_settings

        out = Path(tempfile.mkdtemp(prefix="rlens-dry-")) if dry_run else get_settings().models_dir
    r = Run(recipe=rec, steps=n_steps, seed=seed, dry_run=dry_run, quiet=quiet)
    start = time.perf_counter()
    fields = rec.run(r)
    seconds = time.perf_counter() - start
    command = ["recurrent-lens", "train", name]
    if steps is not None:
        command += ["--steps", str(steps)]
    if seed:
        command += ["--seed", str(seed)]
    if dry_run:
        command += ["--dry-run"]
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "kind": rec.kind,
        "task": rec.task,
        "description": rec.description,
        **fields,
        "provenance": {
            "command": shlex.join(command),
            "seed": seed,
            "steps": n_steps,
            "data": rec.data,
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 1),
            "torch": str(torch.__version__),
            "dry_run": dry_run,
        },
    }
    return save(checkpoint, Path(out) / f"{name}.pt")
