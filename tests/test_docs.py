"""The README and models/README.md must not fall behind the code (datasette's test_docs habit)."""

from __future__ import annotations

import re

import pytest

from app.checkpoints import Registry
from app.config import REPO_ROOT, Settings
from app.main import create_app
from app.pages import lessons
from app.train import all_recipes

README = (REPO_ROOT / "README.md").read_text()
MODELS_README = (REPO_ROOT / "models" / "README.md").read_text()


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    assert f"RLENS_{field.upper()}" in README


def api_routes() -> list[str]:
    paths = create_app(Settings(), Registry()).openapi()["paths"]
    return sorted(p for p in paths if p.startswith("/api/"))


@pytest.mark.parametrize("path", api_routes())
def test_every_api_route_is_documented(path: str) -> None:
    assert path in README


@pytest.mark.parametrize("name", sorted(all_recipes()))
def test_every_recipe_has_its_rebuild_command_in_models_readme(name: str) -> None:
    assert f"recurrent-lens train {name}" in MODELS_README


@pytest.mark.parametrize("lesson", lessons(), ids=lambda lesson: lesson.slug)
def test_every_page_is_in_the_readme_with_a_screenshot(lesson) -> None:  # type: ignore[no-untyped-def]
    assert f"]({lesson.path})" in README or f"`{lesson.path}`" in README
    shot = f"docs/screenshots/{lesson.slug}.png"
    assert shot in README and (REPO_ROOT / shot).is_file()


def test_readme_shows_the_two_commands_and_the_cli() -> None:
    for text in (
        "make serve",
        "make test",
        "recurrent-lens serve",
        "recurrent-lens train",
        "recurrent-lens models",
    ):
        assert text in README


def test_shipped_metrics_match_models_readme() -> None:
    """Each shipped checkpoint's headline metrics appear in models/README.md as stored."""
    for entry in Registry.from_paths(REPO_ROOT / "models"):
        assert f"`{entry.name}`" in MODELS_README, entry.name
        for label, value in entry.metrics.get("summary", {}).items():
            if isinstance(value, float):
                shown = re.escape(f"{value:.3g}") + "|" + re.escape(f"{value}")
                assert re.search(shown, MODELS_README), (
                    f"{entry.name}: {label} = {value} not in models/README.md"
                )
