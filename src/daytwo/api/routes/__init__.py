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

__all__ = ["ROUTERS"]

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
