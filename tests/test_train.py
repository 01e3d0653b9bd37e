"""Every recipe has a dry-run smoke test; the same seed gives the same weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.checkpoints import build_net, load
from app.train import all_recipes, snapshot_steps, train

RECIPES = sorted(all_recipes())


@pytest.mark.parametrize("name", RECIPES)
def test_dry_run_writes_a_loadable_checkpoint(name: str, tmp_path: Path) -> None:
    path = train(name, dry_run=True, out=tmp_path, quiet=True)
    assert path == tmp_path / f"{name}.pt"
    ckpt = load(path)
    assert ckpt["name"] == name
    assert ckpt["provenance"]["dry_run"] is True
    assert ckpt["provenance"]["command"].startswith(f"recurrent-lens train {name}")
    assert ckpt["history"]["step"], "history records the training curve"
    assert "summary" in ckpt["metrics"]
    build_net(ckpt)


def test_same_seed_same_weights_other_seed_differs(tmp_path: Path) -> None:
    name = RECIPES[0]
    a = load(train(name, dry_run=True, out=tmp_path / "a", seed=7, quiet=True))
    b = load(train(name, dry_run=True, out=tmp_path / "b", seed=7, quiet=True))
    c = load(train(name, dry_run=True, out=tmp_path / "c", seed=8, quiet=True))
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert any(not torch.equal(v, c["state_dict"][k]) for k, v in a["state_dict"].items())


def test_unknown_recipe_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known"):
        train("no-such-model", dry_run=True)


def test_snapshot_steps_spread_over_training() -> None:
    steps = snapshot_steps(1000, 8)
    assert 1 in steps and 1000 in steps and 7 <= len(steps) <= 9
    assert snapshot_steps(3, 8) == {1, 2, 3}
