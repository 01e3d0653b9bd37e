"""Errors as readable 4xx JSON: ``{"message", "code", "params", "field", ...}``.

Every error body carries:

* ``message``: our own complete sentence(s), naming the field and the limit (never a library's
  text, never the bytes of a file, never cut mid-word);
* ``code``: a stable machine code (``CODES`` lists them all), so clients and translations can act
  on the kind of error without parsing English;
* ``params``: the named values the message mentions (``{"field": "text", "length": 2001,
  "limit": 2000}``), so a translation can rebuild the sentence;
* ``field``: the request field at fault, when there is one.

422: invalid input (FastAPI validation reworded, and our own checks); 404: unknown model or route;
409: a model present but unavailable (with its reason); 413: a body or file larger than the server
accepts; 400: a body that cannot be read at all. No input reaches a 500.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.encoding import FastJSONResponse

log = logging.getLogger(__name__)

# The stable machine codes of error bodies (documented in the ErrorBody schema).
CODES: dict[str, str] = {
    "invalid-json": "The body is not JSON (or not UTF-8), or not a JSON object.",
    "too-deep": "The JSON body is nested too deeply to read.",
    "invalid-body": "The body could not be read at all.",
    "invalid-multipart": "A multipart upload that cannot be parsed (e.g. a header line too long).",
    "body-too-large": "The body is larger than the server accepts (413).",
    "missing": "A required field is missing.",
    "unknown-field": "A field this request does not have.",
    "wrong-type": "A value of the wrong JSON type.",
    "invalid-value": "A value that is not allowed here (the message says why).",
    "invalid-text": "Text that is not valid Unicode (a lone surrogate), so it cannot be encoded as UTF-8.",
    "empty": "An empty text, list or file.",
    "too-short": "A text or list shorter than its minimum.",
    "too-long": "A text or list longer than its limit in Settings.",
    "out-of-range": "A number outside its limits in Settings or in the schema.",
    "not-in-model": "A value the chosen model does not have (a unit, layer, delay or snapshot).",
    "too-many-steps": "An input or label that needs more decoding steps than allowed.",
    "over-budget": "The request would cost more work or a larger response than the budgets in Settings.",
    "unknown-model": "No model of that name (404).",
    "model-unavailable": "The model is present but unusable; the reason is given (409).",
    "wrong-model-kind": "The model exists but is for another page.",
    "not-found": "No such page or API route (404).",
    "method-not-allowed": "The route does not accept that HTTP method (405).",
    "file-too-large": "An uploaded file larger than its limit (413).",
    "invalid-file-name": "An upload without a file name, or with one that is too long.",
    "unsupported-file": "An upload whose type is not read here.",
    "upload-unsafe": "Refused for safety: pickled objects, an archive too large unpacked, a legacy format.",
    "unreadable-file": "A file that is corrupt or not the format its name says.",
    "no-recurrent-layer": "No recurrent layer this page traces was found in the file.",
    "unsupported-layer": "A layer of the model this app does not read or trace (the message names it).",
    "ambiguous-prefix": "Several recurrent layers: choose one with `prefix` (see `choices`).",
    "unknown-prefix": "`prefix` matches none of the recurrent layers found.",
    "shape-mismatch": "Weights whose shapes do not fit together.",
    "model-too-large": "An upload over the limits on layers, hidden size or parameters.",
    "invalid-vocab": "A vocabulary that is malformed or does not fit the model.",
    "internal-error": "A fault of the server (logged); never caused by input alone.",
}
DEFAULT_CODES = {400: "invalid-body", 404: "not-found", 405: "method-not-allowed", 409: "model-unavailable"}
DEFAULT_CODES.update({413: "body-too-large", 422: "invalid-value"})


class ApiError(Exception):
    """An error with a status code, a message meant for the user, a code and its parameters."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        *,
        code: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra or {}
        self.code = code or DEFAULT_CODES.get(status, "invalid-value")
        assert self.code in CODES, self.code
        self.params = dict(params or {})
        if field is not None:
            self.params.setdefault("field", field)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code, "params": self.params}
        if self.field:
            out["field"] = self.field
        out.update(self.extra)
        return out


def error_body(message: str, code: str, params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An error body outside an ApiError (middleware, handlers)."""
    return {"message": message, "code": code, "params": params or {}, **extra}


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def _shown(value: Any) -> str | None:
    """A short value for a message ("got 1000000"), or None for anything long or bulky (never
    echoed: it may be a file's bytes or a huge text). Never cut mid-way."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else None
    if isinstance(value, str) and len(value) <= 40 and value.isprintable():
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return None


TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "literal_error": None,
    "finite_number": "a finite number",
}


def _sentence(err: dict[str, Any], echo: bool) -> tuple[str, str, dict[str, Any]]:
    """(sentence, code, params) for one pydantic error."""
    where = _loc(err.get("loc", ()))
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    params: dict[str, Any] = {"field": where}
    got = _shown(err.get("input")) if echo and "input" in err else None
    got_text = f"; got {got}" if got else ""
    if kind == "missing":
        return f"{where} is required.", "missing", params
    if kind == "extra_forbidden":
        return f"{where} is not a field of this request.", "unknown-field", params
    if kind == "json_invalid":
        position = err.get("loc", ("body", "?"))[-1]
        reason = str(ctx.get("error", "invalid JSON")).rstrip(".")
        params = {"reason": reason, "position": position}
        return (
            f"The request body is not valid JSON: {reason} at character {position}.",
            "invalid-json",
            params,
        )
    if kind in ("model_attributes_type", "model_type", "dict_type") and where == "body":
        return "The request body must be a JSON object.", "invalid-json", {}
    if "Expected UploadFile" in str(err.get("msg", "")):
        return (
            f"{where} must be sent as a file with a file name; this part has no file name.",
            "invalid-file-name",
            params,
        )
    if kind == "unencodable_text":
        params.update(ctx)
        return str(err.get("msg", "")), "invalid-text", params
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        bound = {
            "less_than_equal": "le",
            "less_than": "lt",
            "greater_than_equal": "ge",
            "greater_than": "gt",
        }[kind]
        words = {"le": "at most", "lt": "less than", "ge": "at least", "gt": "more than"}[bound]
        params.update(limit=ctx.get(bound), got=err.get("input") if got else None)
        return f"{where} must be {words} {ctx.get(bound)}{got_text}.", "out-of-range", params
    if kind in ("string_too_long", "too_long"):
        limit = ctx.get("max_length")
        value = err.get("input")
        length = len(value) if isinstance(value, str | list) else ctx.get("actual_length")
        unit = "characters" if kind == "string_too_long" else "items"
        params.update(limit=limit, length=length, unit=unit)
        return f"{where} is {length} {unit} long, but the limit is {limit}.", "too-long", params
    if kind in ("string_too_short", "too_short"):
        limit = ctx.get("min_length", 1)
        params.update(limit=limit)
        if limit == 1:
            return f"{where} must not be empty.", "empty", params
        return f"{where} must have at least {limit} items.", "too-short", params
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        params.update(expected=expected)
        return f"{where} must be one of {expected}{got_text}.", "invalid-value", params
    if kind in TYPE_NAMES and TYPE_NAMES[kind]:
        params.update(expected=TYPE_NAMES[kind])
        return f"{where} must be {TYPE_NAMES[kind]}{got_text}.", "wrong-type", params
    if kind.endswith("_type"):
        return f"{where} has the wrong type{got_text}.", "wrong-type", params
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ").rstrip(".")
    return f"{where} is invalid: {msg[:1].lower() + msg[1:]}{got_text}.", "invalid-value", params


def describe_validation(errors: list[dict[str, Any]], echo: bool = True) -> str:
    """One readable sentence per problem, e.g. "beam_width must be at most 16; got 1000000."."""
    return _describe(errors, echo)[0]


def _describe(errors: list[dict[str, Any]], echo: bool) -> tuple[str, str, dict[str, Any], str | None]:
    """(message, code, params, field) of a validation failure; the first problem gives the code."""
    sentences = []
    code, params, field = "invalid-value", {}, None
    for k, err in enumerate(errors[:5]):
        sentence, kind, named = _sentence(err, echo)
        sentences.append(sentence)
        if k == 0:
            code, params = kind, named
            where = named.get("field")
            field = where if where and where != "body" else None
    if len(errors) > 5:
        sentences.append(f"There are {len(errors) - 5} more problems.")
    return " ".join(sentences), code, params, field


def _clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation details without echoing (possibly huge) inputs back."""
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors[:20]
    ]


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


MULTIPART_REASONS = {
    "Maximum header size exceeded": (
        "a part's header line is longer than 4,224 bytes (a file name is at most 255 characters)"
    ),
    "Maximum header count exceeded": "a part has more than 8 header lines",
    "Too many fields": "it has more than 1,000 form fields",
    "Too many files": "it has more than 1,000 files",
    "Field exceeded maximum size": "a form field (not a file) is larger than 1 MB",
    "Part exceeded maximum size": "a form field (not a file) is larger than 1 MB",
    "Missing boundary": "its Content-Type header has no boundary",
}


def _bad_body(exc: StarletteHTTPException) -> tuple[str, str, dict[str, Any]]:
    """Our own sentence for a 400 raised while reading the body, from the exception's cause."""
    causes = _causes(exc)
    if any(isinstance(c, RecursionError) for c in causes):
        return (
            "The request body is JSON nested too deeply to read (about a thousand levels or more); "
            "requests to this API nest at most 3 levels.",
            "too-deep",
            {"limit": 3},
        )
    if any(isinstance(c, UnicodeDecodeError) for c in causes):
        return "The request body is not UTF-8 text; send JSON encoded as UTF-8.", "invalid-json", {}
    text = " ".join(str(c) for c in causes) + " " + str(exc.detail)
    for key, reason in MULTIPART_REASONS.items():
        if key in text:
            return f"The upload could not be read as multipart form data: {reason}.", "invalid-multipart", {}
    if "multipart" in text.lower():
        return "The upload could not be read as multipart form data.", "invalid-multipart", {}
    return "The request body could not be read.", "invalid-body", {}


def safe_json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> FastJSONResponse:
    """An error response that always encodes: text that is not UTF-8 (a lone surrogate in a
    value that was echoed) is written with backslash escapes instead of failing."""
    try:
        orjson.dumps(body)
    except TypeError:
        body = _escape(body)
    return FastJSONResponse(body, status_code=status, headers=headers)


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)  # JSON numbers of orjson are 64-bit
    if isinstance(value, dict):
        return {_escape(k): _escape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape(v) for v in value]
    return value


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> FastJSONResponse:
        return safe_json(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> FastJSONResponse:
        errors = list(exc.errors())
        # Never echo the values of a multipart body: they may be a file's bytes.
        echo = "multipart" not in request.headers.get("content-type", "")
        message, code, params, field = _describe(errors, echo)
        body: dict[str, Any] = {"message": message, "code": code, "params": params, "detail": _clean(errors)}
        if field:
            body["field"] = field
        return safe_json(body, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> FastJSONResponse:
        status = exc.status_code
        code = DEFAULT_CODES.get(status, "invalid-body")
        params: dict[str, Any] = {}
        if status == 404:
            message = "There is no page or API route at this address."
        elif status == 405:
            message = "This route does not accept that HTTP method."
        elif status == 400:
            message, code, params = _bad_body(exc)
        else:
            message = exc.detail if isinstance(exc.detail, str) else "The request failed."
        return safe_json(error_body(message, code, params), status, headers=getattr(exc, "headers", None))
