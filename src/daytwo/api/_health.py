"""``/healthz`` (the process answers) and ``/readyz`` (and its database does)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from daytwo._errors import one_line
from daytwo.api._auth import context
from daytwo.api._context import ApiContext

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    detail: str | None = None


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the server process answers (no database call)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(api: Annotated[ApiContext, Depends(context)]) -> Health | JSONResponse:
    """Readiness: the database answers a query (503 with the reason when it does not)."""
    try:
        with api.client.store.read() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the reason says which
        return JSONResponse(
            Health(status="unavailable", detail=one_line(exc)).model_dump(), status_code=503
        )
    return Health(status="ok")
