"""The model listing: every checkpoint found, usable or not, with metrics and reasons."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import RegistryDep
from app.api.schemas import ModelList

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ModelList)
async def list_models(registry: RegistryDep) -> dict[str, object]:
    """Every model the server knows, with its metrics, or the reason it is unavailable."""
    return {"models": [entry.public() for entry in registry]}
