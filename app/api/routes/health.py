"""Liveness: cheap, never touches torch, so it answers even while traces run."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from app.api.deps import RegistryDep
from app.api.schemas import Health

router = APIRouter(prefix="/api", tags=["meta"])

try:
    _VERSION = version("recurrent-lens")
except PackageNotFoundError:  # running from a source tree without installing
    _VERSION = "0+source"


@router.get("/health", response_model=Health)
async def health(registry: RegistryDep) -> dict[str, object]:
    """Liveness and how many models are loaded."""
    usable = sum(1 for e in registry if e.available)
    return {
        "status": "ok",
        "models": usable,
        "unavailable": len(registry) - usable,
        "version": _VERSION,
    }
