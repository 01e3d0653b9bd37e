"""Schemathesis against /openapi.json: no 5xx and no response that violates its schema, for any route.

Bounded (a fixed number of examples per operation, derandomised) so CI stays fast and repeatable.
The app serves the shipped models, so the fuzzer reaches the real nets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.checkpoints import Registry
from app.config import REPO_ROOT, Settings
from app.main import create_app
from app.uploads import UploadStore

UPLOADS = Path(__import__("tempfile").mkdtemp(prefix="rlens-fuzz-"))
APP = create_app(Settings(upload_dir=UPLOADS), Registry.from_paths(REPO_ROOT / "models"))
APP.state.registry.resolver = UploadStore(UPLOADS, 10**8).load
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@pytest.mark.slow
def test_api_never_errors_and_matches_its_schema(case: schemathesis.Case) -> None:
    # Limits come from Settings at run time (documented in the field descriptions), so schema-valid
    # bodies beyond them get a 4xx: the "positive data" check does not apply.
    response = case.call()
    assert response.status_code < 500, (
        f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    )
    case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])
