"""The console script: --help on every subcommand and flag, and the models table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import build_parser, main


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["train", "--help"], ["models", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert "usage: recurrent-lens" in capsys.readouterr().out


def test_every_flag_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, subparser in sub.choices.items():  # type: ignore[union-attr]
        for action in subparser._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_models_table(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (models_dir / "broken.pt").write_bytes(b"nope")
    assert main(["models", "--models-dir", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert "tiny-char" in out and "accuracy 0.5" in out
    assert "broken" in out and "UNAVAILABLE" in out


def test_console_script_train_dry_run(tmp_path: Path) -> None:
    from app.train import all_recipes

    name = sorted(all_recipes())[0]
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "train", name, "--dry-run", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert f"wrote {tmp_path / (name + '.pt')}" in out.stdout
    assert (tmp_path / f"{name}.pt").is_file()
