"""/docs is complete: every API route has a response model, a one-line docstring, and examples."""

from __future__ import annotations

import pytest

from app.checkpoints import Registry
from app.config import Settings
from app.main import create_app

SPEC = create_app(Settings(), Registry()).openapi()
OPERATIONS = [(path, method, op) for path, ops in SPEC["paths"].items() for method, op in ops.items()]


@pytest.mark.parametrize("path,method,op", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_operation_is_documented(path: str, method: str, op: dict) -> None:  # type: ignore[type-arg]
    assert path.startswith("/api/"), f"{path} is in the schema but is not an API route"
    assert op.get("description", "").strip(), f"{method.upper()} {path} has no docstring"
    ok = op["responses"]["200"]
    assert ok.get("content", {}).get("application/json", {}).get("schema"), f"{path}: no response_model"
    if method == "post":
        body = op["requestBody"]["content"]
        media = body.get("application/json") or body.get("multipart/form-data")
        assert media, path
        if "application/json" in body:
            ref = media["schema"].get("$ref", "")
            schema = SPEC["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else media["schema"]
            assert schema.get("examples") or media.get("examples") or media.get("example"), (
                f"{path}: no example body"
            )
        assert "422" in op["responses"], f"{path}: 422 not documented"
