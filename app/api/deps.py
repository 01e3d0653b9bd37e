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
        raise ApiError(404, f"unknown model {name!r}; models for this page: {choices}", "model")
    if not entry.available or entry.net is None:
        raise ApiError(409, f"model {name!r} is unavailable: {entry.reason}", "model")
    if entry.kind not in kinds:
        choices = ", ".join(registry.names(kinds)) or "none are loaded"
        raise ApiError(
            422,
            f"model {name!r} is a {entry.kind} model; this route needs one of: {choices}",
            "model",
        )
    return entry


def check_length(value: Sized, limit: int, field: str, unit: str = "characters") -> None:
    """422 naming both sizes when ``value`` is empty or longer than ``limit``."""
    if len(value) == 0:
        raise ApiError(422, f"{field}: must not be empty", field)
    if len(value) > limit:
        raise ApiError(422, f"{field}: {len(value)} {unit}, but the limit is {limit}", field)
