"""Property-based fuzzing from the gateway's own /openapi.json (schemathesis).

Every generated request, valid or not, must get an answer that the document
describes, and never a 5xx made by the gateway (the echo backend only fails
when asked through a header the document does not mention).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err, Ok

from tests.gateway_support.live import live_gateway


@pytest.fixture(scope="module")
def live_url(echo_modules: tuple[ModuleType, ModuleType]) -> Iterator[str]:
    with live_gateway(echo_modules) as url:
        yield url


def test_gateway_conforms_to_its_openapi(live_url: str) -> None:
    spec = httpx.get(f"{live_url}/openapi.json").json()
    api = schemathesis.openapi.from_dict(spec)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    results = list(api.get_all_operations())
    errors = [r.err() for r in results if isinstance(r, Err)]
    assert not errors, errors
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) >= 12
    for operation in operations:
        # Streams are read whole by the checks; NDJSON lines are validated elsewhere.
        if "x-ndjson" in str(operation.definition.raw.get("responses", {})):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: Any) -> None:
            case.call_and_validate(base_url=live_url, checks=checks)

        run()
