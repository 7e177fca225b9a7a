"""The OpenAPI document describes the API: schemathesis sends generated requests (valid and
invalid) to every operation of the live service; no answer may be a server error, a status
code the document does not list, or a body, content type or header it does not describe."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.e2e.conftest import Service

pytestmark = pytest.mark.slow

EXAMPLES = 15  # per operation, valid and invalid requests
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
    allow_header_conformance,
]


def test_every_operation_answers_as_documented(service: Service) -> None:
    # schemathesis's pytest plugin does not run under pytest 9: its Python API drives hypothesis
    key = service.new_key("fuzz")[0]
    schema = schemathesis.openapi.from_url(service.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=service.url, headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # one operation's failure: collect them all, then report
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)


def test_405_says_which_methods_are_allowed(service: Service) -> None:
    r = httpx.put(service.url + "/v1/search", timeout=10)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"
