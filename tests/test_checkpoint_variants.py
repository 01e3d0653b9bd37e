"""Checkpoint ``variants``: other trained weights of one architecture, built on demand and cached."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.checkpoints import CheckpointError, Registry, load, save
from tests.conftest import tiny_char_lm_checkpoint


def _with_variants(name: str = "tiny-char") -> dict:  # type: ignore[type-arg]
    ckpt = tiny_char_lm_checkpoint(name)
    shifted = {k: v + 1.0 for k, v in ckpt["state_dict"].items()}
    ckpt["variants"] = {
        "5": {"state_dict": shifted, "initial_state_dict": ckpt["state_dict"], "metrics": {"accuracy": 1.0}},
    }
    return ckpt


def test_variant_nets_have_their_own_weights(tmp_path: Path) -> None:
    save(_with_variants(), tmp_path / "m.pt")
    (entry,) = list(Registry.from_paths(tmp_path))
    assert entry.available and list(entry.variants) == ["5"]
    assert entry.variants["5"]["metrics"] == {"accuracy": 1.0}
    net = entry.variant_net("5")
    initial = entry.variant_net("5", "initial_state_dict")
    assert entry.variant_net("5") is net  # cached
    for key, value in entry.checkpoint["state_dict"].items():
        assert torch.equal(net.state_dict()[key], value + 1.0)
        assert torch.equal(initial.state_dict()[key], value)
    assert entry.net is not None and not torch.equal(
        entry.net.state_dict()["head.bias"], net.state_dict()["head.bias"]
    )
    assert not any(p.requires_grad for p in net.parameters()) and not net.training


def test_unknown_variant_is_a_key_error_and_bad_weights_a_readable_reason(tmp_path: Path) -> None:
    ckpt = _with_variants()
    ckpt["variants"]["9"] = {"state_dict": {"head.weight": torch.zeros(2, 2)}}
    save(ckpt, tmp_path / "m.pt")
    (entry,) = list(Registry.from_paths(tmp_path))
    with pytest.raises(KeyError):
        entry.variant_net("7")
    with pytest.raises(KeyError):
        entry.variant_net("5", "no_such_weights")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        entry.variant_net("9")


def test_models_without_variants_have_none(tmp_path: Path) -> None:
    save(tiny_char_lm_checkpoint(), tmp_path / "m.pt")
    (entry,) = list(Registry.from_paths(tmp_path))
    assert entry.variants == {}


@pytest.mark.parametrize("variants", [[1, 2], {"5": "weights"}, {"5": {"metrics": {}}}])
def test_malformed_variants_make_the_file_unusable(tmp_path: Path, variants: object) -> None:
    ckpt = tiny_char_lm_checkpoint()
    ckpt["variants"] = variants
    torch.save(ckpt, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="variant"):
        load(tmp_path / "m.pt")
