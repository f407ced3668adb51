"""The HTTP API of an App: a FastAPI application over the App's Client.

Every route is a thin layer over one Client (or extension) call, so a Python call, a CLI
command and an HTTP request do the same thing; the routes only add who is calling (the
token, ``_auth.py``) and the HTTP shape (``_problems.py`` for errors). Routes are plain
``def`` functions: the Client blocks on the database, and FastAPI runs them in its thread
pool, as many at once as the pool allows.

Operations packages add their own routers through :meth:`Extension.routes`, mounted under
the same ``/v1`` prefix with the same tokens. An App serves the routes of the extensions it
has: ``daytwo serve`` without ``--app`` (a plain App, no code) has no SLO extension, so no
``/v1/slo/...`` routes (404; ``daytwo --server URL slo ...`` says to serve the app).
``/metrics`` (outside ``/v1``) serves the collectors of the core and of every extension.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from daytwo._version import __version__
from daytwo.api import _health
from daytwo.api._body_limit import BodyLimit
from daytwo.api._context import ApiContext
from daytwo.api._problems import HANDLERS, PROBLEMS, document_problems, problems
from daytwo.api.routes import ROUTERS, metrics_router
from daytwo.app import App

__all__ = ["DEFAULT_MAX_BODY", "PREFIX", "create_api"]

#: Every route but health and /metrics is under this prefix; a breaking change is /v2.
PREFIX = "/v1"
#: Request bodies larger than this are refused with 413 (``daytwo serve --max-body``).
DEFAULT_MAX_BODY = 1024 * 1024


def create_api(app: App, *, max_body: int = DEFAULT_MAX_BODY) -> FastAPI:
    """The FastAPI application serving ``app``'s database (serve it with uvicorn, or
    ``daytwo serve``)."""
    api = FastAPI(
        title="daytwo",
        version=__version__,
        description="Durable workflows with their operations built in: instances, operator "
        "actions, human tasks, flow control, breakers, schedules, SLOs and the audit log. "
        "Authenticate with a bearer token from `daytwo tokens create`.",
    )
    api.state.daytwo = ApiContext(app, max_body)
    for kind, handler in HANDLERS.items():
        api.add_exception_handler(kind, handler)
    api.include_router(_health.router)
    api.include_router(metrics_router, responses=problems(401, 403, 503))
    # PROBLEMS here documents the problem+json answers on every /v1 route, extensions' too.
    versioned = APIRouter(prefix=PREFIX, responses=PROBLEMS)
    for router in ROUTERS:
        versioned.include_router(router)
    for extension in app.extensions:
        for router in extension.routes():
            versioned.include_router(router)
        for router in extension.root_routes():
            api.include_router(router, responses=PROBLEMS)
    api.include_router(versioned)
    api.add_middleware(BodyLimit, limit=max_body)
    document_problems(api)
    return api
