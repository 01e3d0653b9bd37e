"""Every enforced per-field limit, as JSON-schema keywords written into the OpenAPI schema.

The limits live in Settings (and a few fixed ones in the routes); ``LIMITS`` names, for each route
and field, the keyword (``maxLength``, ``maximum``, ``maxItems``, …) and where its value comes from.
``with_limits`` writes them into the schema FastAPI generates, so ``/openapi.json`` states the limits
the server of these Settings enforces, and cannot drift from them: a test sends every limit and
limit + 1 and checks the server agrees. (Prices, which depend on the model, are not per-field
limits; the 422 description names them.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from app.config import Settings

MAX_TOKEN_CHARS = 32  # one entry of /api/rnn/trace's ``tokens``
MAX_PREFIX_CHARS = 200  # the upload's ``prefix``


@dataclass(frozen=True)
class Limit:
    path: str  # the route
    field: str  # dotted path in the body; ``[]`` steps into a list's items
    keyword: str  # JSON-schema keyword
    value: Callable[[Settings], int]

    def of(self, settings: Settings) -> int:
        return self.value(settings)


def _setting(name: str, offset: int = 0) -> Callable[[Settings], int]:
    return lambda s: int(getattr(s, name)) + offset


def _const(value: int) -> Callable[[Settings], int]:
    return lambda _: value


def _text(path: str, field: str, setting: str, minimum: int = 1) -> list[Limit]:
    return [
        Limit(path, field, "maxLength", _setting(setting)),
        Limit(path, field, "minLength", _const(minimum)),
    ]


LIMITS: list[Limit] = [
    *_text("/api/lstm/trace", "text", "max_trace_chars"),
    Limit("/api/lstm/trace", "inputs", "maxItems", _setting("max_trace_chars")),
    Limit("/api/lstm/trace", "inputs", "minItems", _const(1)),
    *_text("/api/rnn/trace", "text", "max_trace_chars"),
    Limit("/api/rnn/trace", "tokens", "maxItems", _setting("max_trace_chars")),
    Limit("/api/rnn/trace", "tokens", "minItems", _const(1)),
    Limit("/api/rnn/trace", "tokens[]", "maxLength", _const(MAX_TOKEN_CHARS)),
    Limit("/api/rnn/trace", "tokens[]", "minLength", _const(1)),
    *_text("/api/gradients", "sequence", "max_gradient_chars", minimum=2),
    *_text("/api/birnn/cloze", "text", "max_cloze_chars"),
    *_text("/api/seq2seq/translate", "text", "max_seq2seq_chars"),
    Limit("/api/seq2seq/translate", "samples", "maximum", _setting("max_hard_samples")),
    *_text("/api/seq2seq/forcing", "text", "max_seq2seq_chars"),
    Limit("/api/seq2seq/forcing", "target", "maxLength", _setting("max_seq2seq_chars")),
    Limit("/api/seq2seq/forcing", "inject.step", "maximum", _setting("max_decode_length", -1)),
    *_text("/api/decode/beam", "text", "max_seq2seq_chars"),
    Limit("/api/decode/beam", "beam_width", "maximum", _setting("max_beam_width")),
    Limit("/api/decode/beam", "max_length", "maximum", _setting("max_decode_length")),
    Limit("/api/decode/beam", "n_best", "maximum", _setting("max_beam_width")),
    *_text("/api/skipthought/neighbours", "text", "max_sentence_chars"),
    Limit("/api/skipthought/neighbours", "beam_width", "maximum", _setting("max_beam_width")),
    Limit("/api/models/upload", "prefix", "maxLength", _const(MAX_PREFIX_CHARS)),
    Limit("/api/models/upload", "file", "maxLength", _setting("max_upload_bytes")),
    Limit("/api/models/upload", "file", "minLength", _const(1)),
    Limit("/api/models/upload", "vocab", "maxLength", _setting("max_vocab_bytes")),
    Limit("/api/models/upload", "vocab", "minLength", _const(1)),
]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _typed(schema: dict[str, Any], node: dict[str, Any], keyword: str) -> dict[str, Any]:
    """The branch of ``node`` a keyword belongs to (``str | None`` is ``anyOf: [string, null]``)."""
    node = _resolve(schema, node)
    wanted = {"maxLength": "string", "minLength": "string", "maxItems": "array", "minItems": "array"}
    want = wanted.get(keyword)
    for branch in node.get("anyOf", []):
        branch = _resolve(schema, branch)
        kind = branch.get("type")
        if (want and kind == want) or (not want and kind in ("integer", "number")) or "properties" in branch:
            return branch
    return node


def body_schema(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The request-body schema of a POST route (JSON or multipart)."""
    content = schema["paths"][path]["post"]["requestBody"]["content"]
    media = content.get("application/json") or content["multipart/form-data"]
    return _resolve(schema, media["schema"])


def field_schema(schema: dict[str, Any], path: str, field: str, keyword: str) -> dict[str, Any]:
    """The schema node of a (dotted) field that ``keyword`` applies to."""
    node = body_schema(schema, path)
    parts = field.split(".")
    for k, part in enumerate(parts):
        items = part.endswith("[]")
        node = node["properties"][part.removesuffix("[]")]
        last = k == len(parts) - 1
        if items:
            node = _typed(schema, node, "maxItems")["items"]
        if not last or items:
            node = _typed(schema, node, keyword if last else "")
    return _typed(schema, node, keyword)


def with_limits(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` write every limit of ``settings`` into the schema it generates."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for limit in LIMITS:
                if limit.path in schema["paths"]:
                    field_schema(schema, limit.path, limit.field, limit.keyword)[limit.keyword] = limit.of(
                        settings
                    )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
