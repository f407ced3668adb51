"""One map from daytwo's errors to HTTP statuses, as RFC 9457 problem+json bodies.

The body's ``detail`` is the message the CLI prints after ``error:`` (one line), and
``error`` names the exception class, so a remote CLI (``daytwo --server``) raises the same
exception and ends with the same exit code as a local one. ``type`` is a URN per kind of
problem (``urn:daytwo:problem:instance-not-found``), which needs no web page to resolve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

import daytwo
from daytwo._errors import one_line

__all__ = [
    "PROBLEMS",
    "PROBLEM_JSON",
    "Forbidden",
    "Problem",
    "Unauthorized",
    "document_problems",
    "problem_response",
    "problems",
    "status_for",
]

PROBLEM_JSON = "application/problem+json"


class Unauthorized(daytwo.DaytwoError):
    """No token, or one that is unknown, expired or revoked (401)."""


class Forbidden(daytwo.DaytwoError):
    """The token's role or workflow scope does not allow the request (403)."""


class Problem(BaseModel):
    """An RFC 9457 problem details object, with daytwo's two extension members."""

    model_config = ConfigDict(extra="forbid")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    #: The daytwo exception's class name (``InstanceNotFound``).
    error: str | None = None


def status_for(error: BaseException) -> int:
    """The HTTP status of an error (500 for a bug)."""
    match error:
        case Unauthorized():
            return 401
        case Forbidden():
            return 403
        case (
            daytwo.InstanceNotFound()
            | daytwo.TaskNotFound()
            | daytwo.ScheduleNotFound()
            | daytwo.BreakerNotFound()
        ):
            return 404
        case daytwo.NotRunnable() | daytwo.InstanceConflict():
            return 409
        case sqlalchemy.exc.DataError():
            # A value the database cannot hold (a NUL byte, a number out of range): the
            # request is at fault, not the database (PostgreSQL; SQLite takes them).
            return 422
        case daytwo.StoreUnavailable() | sqlalchemy.exc.DatabaseError():
            return 503
        case daytwo.InvalidInput() | daytwo.WorkflowNotFound() | daytwo.SerializationError():
            return 422
        case LookupError() if isinstance(error, daytwo.DaytwoError):
            return 404
        case daytwo.DaytwoError():
            return 400
    return 500


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem_response(
    status: int, detail: str, *, error: str | None = None, instance: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    """A problem+json response."""
    if error:
        kind = _kebab(error)
        title = kind.replace("-", " ").capitalize()
    else:  # an HTTP-level problem (no route, a method it does not take): the status's name
        phrase = _phrase(status)
        kind, title = phrase.lower().replace(" ", "-"), phrase
    body = Problem(
        type=f"urn:daytwo:problem:{kind}", title=title, status=status, detail=detail,
        instance=instance, error=error,
    )  # fmt: skip
    return JSONResponse(
        body.model_dump(exclude_none=True), status, headers=headers, media_type=PROBLEM_JSON
    )


async def daytwo_error(request: Request, exc: Exception) -> JSONResponse:
    """A daytwo error (or the database failing) as its problem."""
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, daytwo.DaytwoError):
        name = type(exc).__name__
    else:
        name = "InvalidInput" if isinstance(exc, sqlalchemy.exc.DataError) else "StoreUnavailable"
    return problem_response(
        status, one_line(exc), error=name, instance=request.url.path, headers=headers
    )


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A request body or parameter that does not fit its model: 422, naming the field."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for problem in exc.errors()[:3]:
        if problem.get("type") == "json_invalid":
            parts.append(
                "the request body is not valid JSON (send a JSON object with "
                "Content-Type: application/json)"
            )
            continue
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        message = problem.get("msg", "invalid")
        if where == "body" and problem.get("type") in ("model_attributes_type", "dict_type"):
            message = "the request body must be a JSON object (Content-Type: application/json)"
        parts.append(f"{where}: {message}")
    return problem_response(
        422, "; ".join(parts) + " (see /openapi.json for the request's schema)",
        error="InvalidInput", instance=request.url.path,
    )  # fmt: skip


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (404 no route, 405 method) as problems too."""
    assert isinstance(exc, HTTPException)
    detail: Any = exc.detail
    return problem_response(
        exc.status_code, str(detail), instance=request.url.path, headers=exc.headers
    )


#: What each status of the error map means, as the OpenAPI document describes it.
_MEANING = {
    400: "A daytwo error that fits no other status (the detail says what and how to fix it).",
    401: "No token, or an unknown, expired or revoked one.",
    403: "The token's role or workflow scope does not allow this.",
    404: "No such instance, task, schedule, breaker, token, ...",
    409: "The thing is not in a state that allows this (not runnable, an id already used).",
    413: "The request body is over the server's limit (daytwo serve --max-body).",
    422: "A request body or parameter that does not fit the schema, or an unknown workflow.",
    503: "The database does not answer.",
}
_REF = "#/components/schemas/Problem"


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` declaring these statuses as problem+json :class:`Problem`
    bodies (``APIRouter(responses=problems(404, 409))``); no argument: every status of
    the error map (:data:`PROBLEMS`)."""
    chosen = statuses or tuple(_MEANING)
    declared: dict[int | str, dict[str, Any]] = {}
    for status in chosen:
        entry: dict[str, Any] = {
            "description": _MEANING[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": _REF}}},
        }
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        declared[status] = entry
    return declared


#: Every problem a ``/v1`` route can answer with. ``create_api`` puts it on the router that
#: every core and extension router is included into, so a new route module documents them
#: without doing anything (any route can meet a bad token, a scope, bad input or a database
#: that is down; the error map decides the rest from the exception, not from the route).
PROBLEMS = problems()


def document_problems(api: FastAPI) -> None:
    """Add the :class:`Problem` schema that :data:`PROBLEMS` refers to to ``api``'s OpenAPI
    document (FastAPI only adds the models that a route's own signature names)."""
    build = api.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("Problem", Problem.model_json_schema())
        return document

    api.openapi = openapi  # type: ignore[method-assign]


HANDLERS = {
    daytwo.DaytwoError: daytwo_error,
    sqlalchemy.exc.DatabaseError: daytwo_error,
    RequestValidationError: invalid_request,
    HTTPException: http_error,
}
