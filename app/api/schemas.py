"""Response and request schemas shared by several routers (topic-specific ones live beside them)."""

from __future__ import annotations

import types
from functools import cache
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.api.errors import CODES


def unencodable(text: str) -> int | None:
    """The index of the first character of ``text`` that UTF-8 cannot encode (a lone surrogate,
    which JSON's ``"\\ud800"`` escape can produce), or None when it all encodes."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, and values are not coerced ("3" is not 3, 0 is
    not false), so typos and type mistakes never pass silently. Every string (and string in a
    list) must be encodable as UTF-8: a lone surrogate is refused here, once for every route,
    before it can reach a cache key, a vocabulary or the JSON encoder."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        """A whole number written with a fraction (``1.0``) is the integer it names, as JSON Schema
        has it ("integer" is any number with a zero fraction); ``1.5``, ``"1"`` and ``true`` are not."""
        if isinstance(data, dict):
            whole = {
                k: int(v)
                for k in _integer_fields(cls) & data.keys()
                if type(v := data[k]) is float and v.is_integer() and abs(v) < 2**63
            }
            if whole:
                data = {**data, **whole}
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _utf8(cls, value: Any, info: ValidationInfo) -> Any:
        texts = [value] if isinstance(value, str) else value if isinstance(value, list) else ()
        for k, text in enumerate(texts):
            if not isinstance(text, str):
                break
            at = unencodable(text)
            if at is not None:
                where = info.field_name if isinstance(value, str) else f"{info.field_name}[{k}]"
                raise PydanticCustomError(
                    "unencodable_text",
                    "{where} has a lone surrogate (U+{codepoint}) at character {index}, which is not "
                    "Unicode text and cannot be encoded as UTF-8.",
                    {"where": where, "codepoint": f"{ord(text[at]):04X}", "index": at},
                )
        return value


@cache
def _integer_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields of ``model`` typed ``int`` or ``int | None``."""
    names = set()
    for name, info in model.model_fields.items():
        kinds = get_args(info.annotation) if get_origin(info.annotation) in (Union, types.UnionType) else ()
        if info.annotation is int or (int in kinds and not {float, bool} & set(kinds)):
            names.add(name)
    return frozenset(names)


class ErrorBody(BaseModel):
    message: str = Field(description="What was wrong, in complete sentences naming the field and the limit.")
    code: str = Field(
        description="Stable machine code of the kind of error (translate or act on this, not on the "
        "message): " + "; ".join(f"`{code}`: {meaning}" for code, meaning in CODES.items()),
        examples=["too-long"],
    )
    params: dict[str, Any] = Field(
        description='The named values the message mentions, e.g. {"field": "text", "length": '
        '2001, "limit": 2000}.',
    )
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
    400: {
        "model": ErrorBody,
        "description": "A body that cannot be parsed at all (not UTF-8, or JSON nested too deeply).",
    },
    404: {"model": ErrorBody, "description": "Unknown model."},
    409: {"model": ErrorBody, "description": "Model present but unavailable; the reason is given."},
    413: {"model": ErrorBody, "description": "A body larger than the server accepts."},
    422: {
        "model": ErrorBody,
        "description": "Invalid input, or a request priced over the budgets (code `over-budget`); "
        "the message names the field and the limit.",
    },
}
