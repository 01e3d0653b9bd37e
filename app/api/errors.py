"""Errors as readable 4xx JSON: ``{"message": "...", "detail": ...}``.

422: FastAPI validation (reworded into one sentence naming the field) and our own limit checks;
404: unknown model; 409: a model that is present but unavailable (with its reason);
413: a body larger than the server accepts. No input reaches a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.encoding import FastJSONResponse


class ApiError(Exception):
    """An error with a status code and a message meant for the user."""

    def __init__(
        self, status: int, message: str, field: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra or {}


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_validation(errors: list[dict[str, Any]]) -> str:
    """One readable sentence per problem, e.g. "beam_width: must be ≤ 16 (got 1000000)"."""
    sentences = []
    for err in errors[:5]:
        where = _loc(err.get("loc", ()))
        kind = err.get("type", "")
        msg = err.get("msg", "invalid")
        if kind == "missing":
            sentences.append(f"{where}: this field is required")
        elif kind == "json_invalid":
            sentences.append(f"the request body is not valid JSON ({err.get('ctx', {}).get('error', msg)})")
        elif kind in ("model_attributes_type", "model_type", "dict_type") and where == "body":
            sentences.append("the request body must be a JSON object")
        else:
            got = f" (got {_short(err['input'])})" if "input" in err and kind != "extra_forbidden" else ""
            sentences.append(f"{where}: {msg[0].lower() + msg[1:] if msg else 'invalid'}{got}")
    if len(errors) > 5:
        sentences.append(f"and {len(errors) - 5} more problems")
    return "; ".join(sentences)


def _clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation details without echoing (possibly huge) inputs back."""
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors[:20]
    ]


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> FastJSONResponse:
        body: dict[str, Any] = {"message": exc.message}
        if exc.field:
            body["field"] = exc.field
        body.update(exc.extra)
        return FastJSONResponse(body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> FastJSONResponse:
        errors = list(exc.errors())
        return FastJSONResponse(
            {"message": describe_validation(errors), "detail": _clean(errors)}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> FastJSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such page or API route"
        elif exc.status_code == 400 and "parsing the body" in message:
            message = "the request body could not be read; send UTF-8 JSON"
        elif exc.status_code == 405:
            message = "this route does not accept that HTTP method"
        return FastJSONResponse(
            {"message": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )
