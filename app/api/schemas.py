"""Response and request schemas shared by several routers (topic-specific ones live beside them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, and values are not coerced ("3" is not 3, 0 is
    not false), so typos and type mistakes never pass silently."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorBody(BaseModel):
    message: str = Field(description="What was wrong, naming the field and the limit.")
    field: str | None = Field(default=None, description="The request field at fault, if any.")
    detail: list[dict[str, Any]] | None = Field(default=None, description="Validation details.")
    choices: list[str] | None = Field(default=None, description="Options to choose from, when relevant.")


class TokenProb(BaseModel):
    token: str
    prob: float


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    models: int = Field(description="Models loaded and usable.")
    unavailable: int = Field(description="Models present but unusable (see /api/models).")
    version: str


class ModelInfo(BaseModel):
    name: str
    kind: str
    task: str
    description: str
    available: bool
    reason: str | None = Field(description="Why the model is unavailable, if it is.")
    summary: dict[str, Any] = Field(description="Headline metrics, label → value.")
    metrics: dict[str, Any] = Field(description="Every metric stored in the checkpoint.")
    snapshots: list[int | None] = Field(description="Training steps of stored snapshots.")


class ModelList(BaseModel):
    models: list[ModelInfo]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A body that cannot be parsed at all (not UTF-8 JSON)."},
    404: {"model": ErrorBody, "description": "Unknown model."},
    409: {"model": ErrorBody, "description": "Model present but unavailable; the reason is given."},
    422: {
        "model": ErrorBody,
        "description": "Invalid input; the message names the field and limit.",
    },
}
