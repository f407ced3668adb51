"""One map from daytwo's errors to HTTP statuses, as RFC 9457 problem+json bodies.

The body's ``detail`` is the message the CLI prints after ``error:`` (one line), and
``error`` names the exception class, so a remote CLI (``daytwo --server``) raises the same
exception and ends with the same exit code as a local one. ``type`` is a URN per kind of
problem (``urn:daytwo:problem:instance-not-found``), which needs no web page to resolve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy.exc
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

import daytwo
from daytwo._errors import one_line

__all__ = [
    "PROBLEM_JSON",
    "Forbidden",
    "Problem",
    "Unauthorized",
    "problem_response",
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
        case daytwo.StoreUnavailable() | sqlalchemy.exc.DatabaseError():
            return 503
        case daytwo.InvalidInput() | daytwo.WorkflowNotFound() | daytwo.SerializationError():
            return 422
        case LookupError() if isinstance(error, daytwo.DaytwoError):
            return 404
        case daytwo.DaytwoError():
            return 400
    return 500


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem_response(
    status: int, detail: str, *, error: str | None = None, instance: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    """A problem+json response."""
    kind = _kebab(error) if error else {413: "too-large", 404: "not-found"}.get(status, "http")
    title = re.sub(r"-", " ", kind).capitalize()
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
    name = type(exc).__name__ if isinstance(exc, daytwo.DaytwoError) else "StoreUnavailable"
    return problem_response(
        status, one_line(exc), error=name, instance=request.url.path, headers=headers
    )


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A request body or parameter that does not fit its model: 422, naming the field."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for problem in exc.errors()[:3]:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
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


HANDLERS = {
    daytwo.DaytwoError: daytwo_error,
    sqlalchemy.exc.DatabaseError: daytwo_error,
    RequestValidationError: invalid_request,
    HTTPException: http_error,
}
