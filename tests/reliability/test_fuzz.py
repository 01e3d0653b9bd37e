"""Schemathesis against the live server's /openapi.json: no 5xx, no response that violates its
schema, and no schema-valid request refused for a limit the schema states.

The schema carries every limit of Settings (``app/api/limits.py``), so a request schemathesis
generates as valid must never get ``too-long``, ``out-of-range``, ``wrong-type``, … back. What a
schema cannot say (a model name that does not exist, a unit past this model's hidden size, a
sequence that is not symbol-digits-?, a price over budget) is still refused with a 4xx, and the
code says which kind: those are tolerated here.

Bounded (a fixed number of examples per operation, derandomised) so CI stays fast and repeatable.
The real server (uvicorn, a subprocess) serves the shipped models, so the fuzzer reaches the nets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.checkpoints import Registry
from app.config import REPO_ROOT, Settings
from app.main import create_app
from tests.live_server import Server, start_server, stop_server

pytestmark = pytest.mark.slow

# Codes that mean "the request broke a rule the schema states": never for a schema-valid request.
SCHEMA_CODES = {
    "invalid-json",
    "too-deep",
    "unknown-field",
    "wrong-type",
    "too-long",
    "too-short",
    "empty",
    "out-of-range",
    "invalid-text",
    "body-too-large",
}


def stated_elsewhere(body: dict[str, Any]) -> bool:
    """A limit the schema cannot state: the skip-thought sentence's count of words."""
    return body.get("params", {}).get("unit") == "words"


# The schema the server states (generated from the same code and default Settings; the fixture
# checks the live server serves exactly this one). Loaded from a dict, so calls go over HTTP.
SPEC = create_app(Settings(), Registry()).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


@pytest.fixture(scope="module")
def live() -> Iterator[Server]:
    server = start_server(REPO_ROOT / "models")
    try:
        assert httpx.get(server.url + "/openapi.json").json() == SPEC
        yield server
    finally:
        stop_server(server)


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_never_errors_and_matches_its_schema(case: schemathesis.Case, live: Server) -> None:
    response = case.call(base_url=live.url, timeout=60)
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    # The built-in "positive data acceptance" would fail every 404 for a made-up model name;
    # the check below is its sharper form: no refusal for a rule the schema states.
    case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])
    if case.meta is not None and case.meta.generation.mode.is_positive and 400 <= response.status_code < 500:
        body = response.json()
        refused = body.get("code") in SCHEMA_CODES and not stated_elsewhere(body)
        assert not refused, (
            f"{where}: valid request rejected: {body.get('message')} (body {case.body!r:.300})"
        )
