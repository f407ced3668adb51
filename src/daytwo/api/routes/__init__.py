"""The routers of the core API, one module per kind of thing (mounted under ``/v1``)."""

from fastapi import APIRouter

from daytwo.api.routes import (
    _actions,
    _audit,
    _breakers,
    _bulk,
    _events,
    _flow,
    _instances,
    _registry,
    _schedules,
    _tasks,
    _tokens,
)

# What other modules of daytwo.api use of the routes: their models (the remote client
# parses answers with them), the event streams' shutdown, /metrics (outside /v1).
from daytwo.api.routes._audit import AuditPage
from daytwo.api.routes._bulk import BulkItem
from daytwo.api.routes._common import Api
from daytwo.api.routes._events import close_streams
from daytwo.api.routes._flow import DependencyStatus, PauseStatus, QueueStatus, Resumed
from daytwo.api.routes._metrics import router as metrics_router

__all__ = [
    "ROUTERS",
    "Api",
    "AuditPage",
    "BulkItem",
    "DependencyStatus",
    "PauseStatus",
    "QueueStatus",
    "Resumed",
    "close_streams",
    "metrics_router",
]

ROUTERS: list[APIRouter] = [
    _instances.router,
    _actions.router,
    _bulk.router,
    _tasks.router,
    _flow.router,
    _breakers.router,
    _schedules.router,
    _audit.router,
    _registry.router,
    _tokens.router,
    _events.router,
]
