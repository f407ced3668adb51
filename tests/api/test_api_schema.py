"""Schemathesis against the live OpenAPI document: every route, no 5xx, nothing off-schema.

The server is the shop app behind a real uvicorn (``_live.py``) with a few instances in its
database (succeeded, failed, waiting for a human task, queued), so that routes about one
thing find it: each operation runs once with generated parameters (mostly "not found" and
"invalid" answers) and once with its path parameters drawn from what exists (``KNOWN``), both
with an admin token, then a few times without a token (every ``/v1`` route must answer a
schema-valid 401). The checks: no 5xx, every status documented, the documented content type,
bodies and headers that fit the documented schema.

Deterministic: Hypothesis is derandomised (the same examples every run) without an example
database, operations run in the document's order, the clock is fake and no worker runs. The
examples per operation are few, so the whole run stays in seconds as routes are added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from _live import LiveApi, live_api
from _shop import quietly
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.core.transport import Response

import daytwo
from daytwo.api import Role, Tokens
from daytwo.incidents import (
    Incidents,
    IncidentsExtension,
    Severity,
    apply_ownership,
    parse_ownership,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"

pytestmark = pytest.mark.backends("sqlite")
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Any]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
STREAM = "text/event-stream"
#: Examples per operation: generated parameters, known path parameters, parameters that
#: break the schema (each must be a documented 4xx, not a 5xx), without a token.
GENERATED, WITH_KNOWN, NEGATIVE, UNAUTHENTICATED = 10, 6, 4, 2
#: Requests that generated data would hardly ever make (a start of a workflow that exists,
#: the same start again, a conflicting one), by operation label, sent as written first.
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "POST /v1/instances": [
        {"body": {"workflow": "order", "input": {}, "id": "s-1"}},
        {"body": {"workflow": "order", "input": {}, "id": "s-1"}},
        {"body": {"workflow": "order", "input": {"sleep": 5}, "id": "s-1"}},
        {"body": {"workflow": "plain", "input": False, "queue": "default", "priority": 3}},
    ],
    "POST /v1/instances/{instance_id}/signals": [
        {"path_parameters": {"instance_id": "o-queued"}, "body": {"name": "go", "payload": 1}},
    ],
    "POST /v1/instances/{instance_id}/cancel": [
        {"path_parameters": {"instance_id": "s-1"}, "body": {"reason": "schema test"}},
    ],
    "POST /v1/tokens": [
        {"body": {"name": "ci", "role": "operator", "workflows": ["order"], "expires": "90d"}},
    ],
    # The documented example payloads, a trigger and its resolve.
    "POST /ingest/alertmanager": [
        {"body": json.loads((FIXTURES / name).read_text())}
        for name in ("alertmanager_firing.json", "alertmanager_resolved.json")
    ],
    "POST /ingest/events": [
        {"body": json.loads((FIXTURES / name).read_text())}
        for name in ("events_trigger.json", "events_acknowledge.json", "events_resolve.json")
    ],
}
OWNERSHIP = """\
teams: {order-it: {channels: []}}
people: {ann: {name: Ann}}
workflows: {order: {criticality: critical, business_owner: ann, it_team: order-it}}
"""


@pytest.fixture
def live(shop: daytwo.App) -> Iterator[LiveApi]:
    """The order shop with its incidents (an ownership registry, two incidents) behind a
    live API server."""
    shop.use(IncidentsExtension())
    apply_ownership(shop.store, parse_ownership(OWNERSHIP), source="test", by="test", now=0.0)
    incidents = Incidents.for_app(shop)
    incidents.open("checkout slow", severity=Severity.SEV2, workflow="order", by="test")
    incidents.open("refunds stuck", workflow="order", by="test")
    with live_api(shop) as server:
        yield server


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        # No shrinking: a failure is reported as found (the report names the request), and
        # the run's length stays bounded by the examples above.
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )


@pytest.fixture
def known(live: LiveApi) -> dict[str, list[str]]:
    """What exists in the database, by the name of the path parameter that names it. A new
    route module whose path parameter names something else adds it here."""
    app = live.app
    quietly(app, "order", {}, id="o-done")
    quietly(app, "order", {"task": "approve"}, id="o-task", timeout=0)
    quietly(app, "plain", True, id="p-failed")
    app.start("order", {"signal": "go"}, id="o-queued")
    spare = Tokens(lambda: app.client.store, app.client.clock.now)
    # A token of its own for the revoke route (revoking the admin token would end the run).
    throwaway = spare.create("throwaway", Role.VIEWER, by="test").token.id
    return {
        "instance_id": ["o-done", "o-task", "p-failed", "o-queued"],
        "task_id": [t.id for t in app.client.tasks.list()],
        "token_id": [throwaway],
        "workflow": ["order", "plain"],
        "dependency": ["payments-api"],
        "queue": ["default"],
        # Breakers and dependency limits are named after the dependency (the shop's one);
        # the ownership registry has the workflow.
        "name": ["payments-api", "order"],
        "number": ["1", "2"],
    }


@pytest.fixture
def schema(live: LiveApi) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


def _operations(schema: schemathesis.BaseSchema) -> Iterator[Operation]:
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the OpenAPI document has an invalid operation: {result.err()}")
        yield result.ok()


def _path_names(operation: Operation) -> list[str]:
    return [p.name for p in operation.iter_parameters() if p.location == "path"]


def _streams(operation: Operation) -> bool:
    """Whether the operation answers with server-sent events."""
    responses = operation.definition.raw.get("responses", {})
    return any(STREAM in (answer.get("content") or {}) for answer in responses.values())


def _run(
    strategy: st.SearchStrategy[Case],
    examples: int,
    call: Callable[[Case], None],
) -> None:
    @_settings(examples)
    @hypothesis.given(strategy)
    def each(case: Case) -> None:
        call(case)

    each()


def _exercise(
    schema: schemathesis.BaseSchema,
    live: LiveApi,
    strategies: Callable[[Operation], list[tuple[Any, int]]],
    headers: dict[str, str],
    expect: Callable[[Operation, Response], None] | None = None,
) -> tuple[int, list[str]]:
    """Every operation with the strategies given for it; (operations, failure reports)."""
    failures: list[str] = []
    count = 0
    with requests.Session() as session:

        def call(case: Case) -> None:
            # A stream (/v1/events) is asked to end once caught up, not to follow forever.
            follow = {"follow": "false"} if _streams(case.operation) else None
            # Into the case's own headers: a call's headers= do not reach an operation that
            # has header parameters of its own (Accept of /metrics, Last-Event-ID).
            if case.headers is None:
                case.headers = CaseInsensitiveDict()
            case.headers.update(headers)
            response = case.call(base_url=live.url, session=session, params=follow, timeout=30)
            case.validate_response(response, checks=CHECKS)
            if expect is not None:
                expect(case.operation, response)

        for operation in _operations(schema):
            count += 1
            try:
                for example in EXAMPLES.get(operation.label, []) if headers else []:
                    call(operation.Case(media_type="application/json", **example))
            except (Exception, FailureGroup) as failure:
                failures.append(f"{operation.label} (EXAMPLES): {failure}")
            for strategy, examples in strategies(operation):
                try:
                    _run(strategy, examples, call)
                except hypothesis.errors.Unsatisfiable:
                    continue  # no parameters to break (negative data of /healthz)
                except (Exception, FailureGroup) as failure:  # each one's first, all reported
                    failures.append(f"{operation.label}: {failure}")
                    break
    return count, failures


def test_every_route_answers_within_its_schema(
    live: LiveApi, schema: schemathesis.BaseSchema, known: dict[str, list[str]]
) -> None:
    def strategies(operation: Operation) -> list[tuple[Any, int]]:
        chosen: list[tuple[Any, int]] = [
            (operation.as_strategy(), GENERATED),
            (operation.as_strategy(schemathesis.GenerationMode.NEGATIVE), NEGATIVE),
        ]
        names = _path_names(operation)
        if names and all(known.get(name) for name in names):
            existing = st.fixed_dictionaries({n: st.sampled_from(known[n]) for n in names})
            chosen.append(
                (existing.flatmap(lambda p: operation.as_strategy(path_parameters=p)), WITH_KNOWN)
            )
        return chosen

    admin = {"Authorization": f"Bearer {live.tokens[str(Role.ADMIN)]}"}
    count, failures = _exercise(schema, live, strategies, admin)
    assert count >= 10, "the OpenAPI document lists too few operations"
    assert not failures, "\n\n".join(failures)


def test_every_route_refuses_no_token_with_a_documented_401(
    live: LiveApi, schema: schemathesis.BaseSchema
) -> None:
    def expect(operation: Operation, response: Response) -> None:
        if operation.path.startswith("/v1/"):
            assert response.status_code == 401, (operation.label, response.text)

    count, failures = _exercise(
        schema, live, lambda o: [(o.as_strategy(), UNAUTHENTICATED)], {}, expect
    )
    assert count >= 10
    assert not failures, "\n\n".join(failures)
