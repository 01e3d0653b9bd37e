"""Self-describing checkpoints and the registry of loaded models.

A checkpoint is one plain dict of str/int/float/list/dict/tensor, so ``torch.load(weights_only=True)``
reads it and no pickle of our classes is ever needed (nanoGPT's ``model_args`` habit)::

    {"format_version": 1, "name": "shakespeare-char", "kind": "char-lm", "task": "shakespeare",
     "description": "...", "config": {...}, "vocab": {...}, "state_dict": {...},
     "metrics": {..., "summary": {"bits/char (held-out plays)": 2.21}},
     "history": {"step": [...], "loss": [...], ...},
     "provenance": {"command": "recurrent-lens train shakespeare-char", "seed": 0, ...},
     "snapshots": [{"step": 100, "state_dict": {...}, "metrics": {...}}, ...],   # optional
     "variants": {"20": {"state_dict": {...}, "metrics": {...}, ...}, ...}}        # optional

``variants`` holds other trained weights of the same architecture under one name, keyed by the
setting they were trained for (the recall models keep one set of weights per delay T), so one
model on the home page can serve every setting; ``ModelEntry.variant_net(key)`` builds them.

``load()`` turns every way a file can be bad (missing, truncated, not a checkpoint, wrong version,
weights that do not fit the config) into a ``CheckpointError`` with a readable reason. The
``Registry`` keeps such a model listed as unavailable with that reason; it never stops the server.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version",
    "name",
    "kind",
    "task",
    "config",
    "vocab",
    "state_dict",
    "metrics",
    "history",
    "provenance",
)


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message is shown to users as the reason."""


def save(checkpoint: dict[str, Any], path: str | Path) -> Path:
    """Validate and write a checkpoint atomically (a half-written file never replaces a good one)."""
    path = Path(path)
    _validate(checkpoint, source=path.name)
    _check_plain(checkpoint, "checkpoint")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint, or raise CheckpointError saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path.name}: file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad bytes; all mean "unreadable"
        raise CheckpointError(f"{path.name}: {_unreadable_reason(exc)}") from exc
    _validate(checkpoint, source=path.name)
    return checkpoint


def _unreadable_reason(exc: Exception) -> str:
    """Our own one-line reason for a file torch.load refused; torch's text goes to the log only
    (it can be cut, carry ANSI codes or advise the unsafe weights_only=False)."""
    log.info("torch.load failed: %s", exc)
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    unsafe = re.search(r"unsupported global:?(?: GLOBAL)? ([\w.]+)", text, re.IGNORECASE)
    if unsafe:
        named = f" ({unsafe.group(1)})" if len(unsafe.group(1)) <= 80 else ""
        return (
            f"refused: it holds a pickled Python object{named} that safe loading (torch.load with "
            "weights_only=True) does not create"
        )
    kind = type(exc).__name__
    return f"not a readable checkpoint (torch.load failed with {kind}; it may be truncated or damaged)"


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(value: Any, where: str) -> None:
    """Only types ``torch.load(weights_only=True)`` reads: so no pickle of our classes sneaks in."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise CheckpointError(f"{where}: key {key!r} is not a str or int")
            _check_plain(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise CheckpointError(
            f"{where}: {type(value).__name__} is not a plain type (str/int/float/bool/None/tensor)"
        )


def _validate(checkpoint: Any, source: str) -> None:
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{source}: expected a checkpoint dict, found {type(checkpoint).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing:
        raise CheckpointError(f"{source}: not a Recurrent Lens checkpoint (missing {', '.join(missing)})")
    version = checkpoint["format_version"]
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: format version {version!r}, but this server reads version {FORMAT_VERSION}; "
            f"rebuild it with `recurrent-lens train {checkpoint.get('name', 'NAME')}`"
        )
    for key in ("name", "kind", "task"):
        if not isinstance(checkpoint[key], str) or not checkpoint[key]:
            raise CheckpointError(f"{source}: field {key!r} must be a non-empty string")
    if not isinstance(checkpoint["state_dict"], dict):
        raise CheckpointError(f"{source}: state_dict is not a dict of tensors")
    bad = [k for k, v in checkpoint["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{source}: state_dict entries are not tensors: {', '.join(bad[:5])}")
    variants = checkpoint.get("variants")
    if variants is not None:
        if not isinstance(variants, dict):
            raise CheckpointError(f"{source}: variants is not a dict")
        for key, variant in variants.items():
            if not isinstance(variant, dict) or not isinstance(variant.get("state_dict"), dict):
                raise CheckpointError(f"{source}: variant {key!r} has no state_dict dict")


def build_net(checkpoint: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Build the net a checkpoint describes and load its weights (or a snapshot's), in eval mode."""
    from app.nets import NETS  # late import: nets import torch-heavy modules

    kind = checkpoint["kind"]
    if kind not in NETS:
        raise CheckpointError(f"unknown kind {kind!r}; this server knows {', '.join(sorted(NETS))}")
    try:
        net = NETS[kind](**checkpoint["config"])
    except TypeError as exc:
        raise CheckpointError(f"config does not fit kind {kind!r}: {exc}") from exc
    try:
        net.load_state_dict(state_dict if state_dict is not None else checkpoint["state_dict"])
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise CheckpointError(f"weights do not fit the config: {detail[:300]}") from exc
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@dataclass
class ModelEntry:
    """One model the server knows about, usable or not."""

    name: str
    path: Path | None
    kind: str = "unknown"
    task: str = "unknown"
    description: str = ""
    available: bool = False
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict, repr=False)
    net: nn.Module | None = field(default=None, repr=False)
    extras: dict[str, Any] = field(default_factory=dict, repr=False)  # per-model caches (vocab, ...)
    _snapshot_nets: dict[int, nn.Module] = field(default_factory=dict, repr=False)
    _variant_nets: dict[tuple[str, str], nn.Module] = field(default_factory=dict, repr=False)

    @property
    def snapshots(self) -> list[dict[str, Any]]:
        """Training snapshots stored in the checkpoint, oldest first (may be empty)."""
        return list(self.checkpoint.get("snapshots") or [])

    def snapshot_net(self, index: int) -> nn.Module:
        """The net with the weights of training snapshot ``index`` (built once, then cached)."""
        if index not in self._snapshot_nets:
            snap = self.snapshots[index]
            self._snapshot_nets[index] = build_net(self.checkpoint, snap["state_dict"])
        return self._snapshot_nets[index]

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        """Other trained weights of this architecture stored in the checkpoint, by key (may be empty)."""
        return dict(self.checkpoint.get("variants") or {})

    def variant_net(self, key: str, weights: str = "state_dict") -> nn.Module:
        """The net with the weights ``variants[key][weights]`` (built once, then cached).

        KeyError for a key or weights field the checkpoint does not have; CheckpointError (with a
        readable reason) for weights that do not fit the config.
        """
        if (key, weights) not in self._variant_nets:
            state = self.variants[key][weights]
            if not isinstance(state, dict):
                raise CheckpointError(f"variant {key!r}: {weights} is not a dict of tensors")
            self._variant_nets[(key, weights)] = build_net(self.checkpoint, state)
        return self._variant_nets[(key, weights)]

    def public(self) -> dict[str, Any]:
        """What /api/models says about this model."""
        metrics = {k: v for k, v in self.metrics.items() if k != "summary"}
        return {
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
            "description": self.description,
            "available": self.available,
            "reason": self.reason,
            "summary": self.metrics.get("summary", {}),
            "metrics": metrics,
            "snapshots": [s.get("step") for s in self.snapshots],
        }


def entry_from_checkpoint(ckpt: dict[str, Any], path: Path | None) -> ModelEntry:
    """An entry for a checkpoint dict already in memory; failures make it unavailable with a reason."""
    entry = ModelEntry(name=str(ckpt.get("name") or (path.stem if path else "unnamed")), path=path)
    source = path.name if path else entry.name
    try:
        _validate(ckpt, source=source)
        entry.kind = ckpt["kind"]
        entry.task = ckpt["task"]
        entry.description = str(ckpt.get("description", ""))
        entry.metrics = dict(ckpt.get("metrics") or {})
        entry.checkpoint = ckpt
        entry.net = build_net(ckpt)
        entry.available = True
    except CheckpointError as exc:
        entry.reason = str(exc) if source in str(exc) else f"{source}: {exc}"
        log.warning("model %s unavailable: %s", entry.name, entry.reason)
    return entry


def load_entry(path: Path) -> ModelEntry:
    """Load one checkpoint file into an entry; failures become an unavailable entry with a reason."""
    try:
        ckpt = load(path)
    except CheckpointError as exc:
        log.warning("model %s unavailable: %s", path.stem, exc)
        return ModelEntry(name=path.stem, path=path, reason=str(exc))
    return entry_from_checkpoint(ckpt, path)


class Registry:
    """The models a server serves, loaded once at start-up (FastAPI lifespan).

    ``resolver`` finds models that are not listed, by name (uploads kept on disk, shared by all
    workers); the last few it found stay loaded in this process.
    """

    def __init__(
        self, entries: Iterable[ModelEntry] = (), resolver: Callable[[str], ModelEntry | None] | None = None
    ) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._resolved: OrderedDict[str, ModelEntry] = OrderedDict()
        self.resolver = resolver
        for entry in entries:
            self.add(entry)

    @classmethod
    def from_paths(cls, models_dir: Path | None, extra: Iterable[Path] = ()) -> Registry:
        """Load every ``*.pt`` in ``models_dir`` plus the extra files; a bad one never stops the rest."""
        from app.uploads import entry_for_file  # extra files may be a user's own weights

        entries: list[ModelEntry] = []
        if models_dir is not None:
            if models_dir.is_dir():
                entries.extend(load_entry(p) for p in sorted(models_dir.glob("*.pt")))
            else:
                log.warning("models directory %s does not exist; serving no shipped models", models_dir)
        entries.extend(entry_for_file(Path(p)) for p in extra)
        return cls(entries)

    def add(self, entry: ModelEntry) -> None:
        """Add an entry; a second model with a taken name is kept but marked unavailable."""
        if entry.name in self._entries:
            first = self._entries[entry.name]
            entry.available = False
            entry.net = None
            entry.reason = f"duplicate name {entry.name!r}: already served from {first.path}"
            entry.name = f"{entry.name}@{entry.path.name if entry.path else 'dup'}"
            log.warning("%s", entry.reason)
        self._entries[entry.name] = entry

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> ModelEntry | None:
        """A listed model, else one the resolver finds (kept among the last 16 found)."""
        entry = self._entries.get(name)
        if entry is not None or self.resolver is None:
            return entry
        if name in self._resolved:
            self._resolved.move_to_end(name)
            return self._resolved[name]
        entry = self.resolver(name)
        if entry is not None:
            self._resolved[name] = entry
            while len(self._resolved) > 16:
                self._resolved.popitem(last=False)
        return entry

    def names(self, kinds: Iterable[str] | None = None) -> list[str]:
        """Names of available listed models, optionally of the given kinds."""
        wanted = set(kinds) if kinds is not None else None
        return [e.name for e in self if e.available and (wanted is None or e.kind in wanted)]
