"""Tiny untrained delayed-recall checkpoints (with per-delay variants) and an app serving them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from fastapi.testclient import TestClient

from app.checkpoints import Registry, save
from app.config import Settings
from app.main import create_app
from app.tasks import recall
from tests.conftest import make_checkpoint, tiny_char_lm_checkpoint

TINY_DELAYS = (5, 20)
HIDDEN = 6


def tiny_recall_checkpoint(name: str, kind: str) -> dict[str, Any]:
    """A recall checkpoint whose variants for T = 5 and 20 hold different (random) weights."""
    v = recall.vocab()
    config = {"vocab_size": len(v), "num_classes": len(recall.SYMBOLS), "hidden_size": HIDDEN}
    ckpt = make_checkpoint(name, kind, config, v.to_dict(), task="recall", classes=list(recall.SYMBOLS))
    variants = {}
    for n, delay in enumerate(TINY_DELAYS):
        gen = torch.Generator().manual_seed(n + 1)
        trained = {k: torch.randn(t.shape, generator=gen) * 0.5 for k, t in ckpt["state_dict"].items()}
        variants[str(delay)] = {
            "state_dict": trained,
            "initial_state_dict": ckpt["state_dict"],
            "metrics": {"accuracy": 0.5 + n / 10},
        }
    ckpt["variants"] = variants
    ckpt["metrics"] = {
        "accuracy_by_delay": {str(d): 0.5 for d in TINY_DELAYS},
        "summary": {f"accuracy T={d}": 0.5 for d in TINY_DELAYS},
    }
    return ckpt


def recall_registry_in(tmp_path: Path) -> Registry:
    """A registry of tiny-rnn, tiny-lstm (recall, with variants) and tiny-char in ``tmp_path``."""
    d = tmp_path / "recall-models"
    save(tiny_recall_checkpoint("tiny-rnn", "recall-rnn"), d / "tiny-rnn.pt")
    save(tiny_recall_checkpoint("tiny-lstm", "recall-lstm"), d / "tiny-lstm.pt")
    save(tiny_char_lm_checkpoint(), d / "tiny-char.pt")
    return Registry.from_paths(d)


def client_for(tmp_path: Path, registry: Registry) -> Iterator[TestClient]:
    """A TestClient of the app serving ``registry`` (use as ``yield from`` in a fixture)."""
    settings = Settings(models_dir=tmp_path / "recall-models", upload_dir=tmp_path / "uploads")
    with TestClient(create_app(settings, registry)) as c:
        yield c
