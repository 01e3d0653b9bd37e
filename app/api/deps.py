"""FastAPI dependencies as ``Annotated`` aliases, and the model/limit checks every route shares."""

from __future__ import annotations

from collections.abc import Iterable, Sized
from typing import Annotated

from fastapi import Depends, Request

from app.api.errors import ApiError
from app.checkpoints import ModelEntry, Registry
from app.config import Settings


# Both are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the threadpool,
# so every request (even /api/health) would wait for a free thread behind running traces.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]


def require_model(registry: Registry, name: str, kinds: Iterable[str]) -> ModelEntry:
    """The named model, if it exists (else 404), is usable (else 409) and is of a fitting kind (422)."""
    kinds = tuple(kinds)
    entry = registry.get(name)
    if entry is None:
        choices = ", ".join(registry.names(kinds)) or "none are loaded"
        raise ApiError(
            404,
            f"There is no model {name!r}; the models for this page are: {choices}.",
            "model",
            code="unknown-model",
            params={"model": name, "choices": choices},
        )
    if not entry.available or entry.net is None:
        reason = (entry.reason or "it could not be loaded").rstrip(".")
        raise ApiError(
            409,
            f"Model {name!r} is unavailable: {reason}.",
            "model",
            code="model-unavailable",
            params={"model": name, "reason": reason},
        )
    if entry.kind not in kinds:
        choices = ", ".join(registry.names(kinds)) or "none are loaded"
        raise ApiError(
            422,
            f"Model {name!r} is a {entry.kind} model; this route needs one of: {choices}.",
            "model",
            code="wrong-model-kind",
            params={"model": name, "kind": entry.kind, "choices": choices},
        )
    return entry


def check_length(value: Sized, limit: int, field: str, unit: str = "characters") -> None:
    """422 naming both sizes when ``value`` is empty or longer than ``limit``."""
    if len(value) == 0:
        raise ApiError(422, f"{field} must not be empty.", field, code="empty")
    if len(value) > limit:
        raise ApiError(
            422,
            f"{field} is {len(value)} {unit} long, but the limit is {limit}.",
            field,
            code="too-long",
            params={"length": len(value), "limit": limit, "unit": unit},
        )


def check_at_most(value: int, limit: int, field: str) -> None:
    """422 naming both numbers when ``value`` is above ``limit`` (a limit from Settings)."""
    if value > limit:
        raise ApiError(
            422,
            f"{field} must be at most {limit}; got {value}.",
            field,
            code="out-of-range",
            params={"limit": limit, "got": value},
        )
