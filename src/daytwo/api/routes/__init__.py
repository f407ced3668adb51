"""The routers of the core API, one module per kind of thing (mounted under ``/v1``)."""

from fastapi import APIRouter

from daytwo.api.routes import _actions, _bulk, _instances, _registry, _tokens

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    _instances.router,
    _tokens.router,
    _actions.router,
    _bulk.router,
    _registry.router,
]
