"""Shared fixtures: settings in a temp dir, a registry of tiny untrained nets, an API client.

Unit and API tests never load the shipped checkpoints unless they say so (``shipped`` fixtures);
they build tiny nets so they run in milliseconds (FastAPI's dependency-override habit).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from app import runtime
from app.checkpoints import FORMAT_VERSION, ModelEntry, Registry, save
from app.config import REPO_ROOT, Settings
from app.main import create_app

runtime.configure(1)
MODELS_DIR = REPO_ROOT / "models"


def make_checkpoint(
    name: str, kind: str, config: dict[str, Any], vocab: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """A valid checkpoint around a freshly initialised net (seeded, so tests are repeatable)."""
    from app.nets import NETS

    torch.manual_seed(0)
    net = NETS[kind](**config)
    ckpt = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "kind": kind,
        "task": extra.pop("task", "test"),
        "description": f"tiny {kind} for tests",
        "config": config,
        "vocab": vocab,
        "state_dict": net.state_dict(),
        "metrics": extra.pop("metrics", {"summary": {"accuracy": 0.5}}),
        "history": {"step": [1, 2], "loss": [2.0, 1.0]},
        "provenance": {"command": "test", "seed": 0, "data": "test", "date": "2026-01-01"},
    }
    ckpt.update(extra)
    return ckpt


def tiny_char_lm_checkpoint(name: str = "tiny-char") -> dict[str, Any]:
    from app.tasks.vocab import Vocab

    vocab = Vocab.build("abcdefghijklmnopqrstuvwxyz ,.!?\n'", specials={"unk": "\ufffd"})
    config = {"vocab_size": len(vocab), "embed_size": 8, "hidden_size": 16, "num_layers": 1}
    return make_checkpoint(name, "char-lm", config, vocab.to_dict(), task="shakespeare")


def tiny_seq2seq_checkpoint(
    name: str = "tiny-dates", attention: bool = True, snapshots: int = 3
) -> dict[str, Any]:
    """A tiny untrained seq2seq net over the dates vocabularies, with ``snapshots`` fake snapshots."""
    from app.recipes.seq2seq import SPECIALS
    from app.tasks.vocab import Vocab

    source = Vocab.build("0123456789 ,./-abcdefghijklmnopqrstuvwxyzNOV年月日", specials=SPECIALS)
    target = Vocab.build("0123456789-", specials=SPECIALS)
    config = {
        "source_vocab_size": len(source),
        "target_vocab_size": len(target),
        "embed_size": 8,
        "hidden_size": 6,
        "decoder_size": 10,
        "attention_size": 5,
        "attention": attention,
    }
    ckpt = make_checkpoint(
        name, "seq2seq", config, {"source": source.to_dict(), "target": target.to_dict()}, task="dates"
    )
    ckpt["snapshots"] = [
        {
            "step": 10 * (k + 1),
            "state_dict": {key: (v * (k + 1) / snapshots).half() for key, v in ckpt["state_dict"].items()},
            "metrics": {"exact": 0.1 * k},
        }
        for k in range(snapshots)
    ]
    return ckpt


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """A models directory holding one tiny char LM."""
    d = tmp_path / "models"
    save(tiny_char_lm_checkpoint(), d / "tiny-char.pt")
    return d


@pytest.fixture
def settings(tmp_path: Path, models_dir: Path) -> Settings:
    return Settings(models_dir=models_dir, upload_dir=tmp_path / "uploads")


@pytest.fixture
def registry(models_dir: Path) -> Registry:
    return Registry.from_paths(models_dir)


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    with TestClient(create_app(settings, registry)) as c:
        yield c


@pytest.fixture(scope="session")
def shipped() -> Registry:
    """The shipped checkpoints of models/ (quality tests)."""
    return Registry.from_paths(MODELS_DIR)


def shipped_entry(registry: Registry, name: str) -> ModelEntry:
    entry = registry.get(name)
    assert entry is not None, f"models/{name}.pt is missing; rebuild with `recurrent-lens train {name}`"
    assert entry.available, entry.reason
    return entry


@pytest.fixture(scope="module")
def shipped_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An API client over the shipped checkpoints (uploads in a temp dir), shared by a module."""
    uploads = tmp_path_factory.mktemp("uploads")
    app = create_app(Settings(upload_dir=uploads), Registry.from_paths(MODELS_DIR))
    with TestClient(app) as c:
        yield c
