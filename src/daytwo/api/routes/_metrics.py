"""``/metrics`` on the API (outside ``/v1``, where Prometheus looks): the same collectors as
a worker's /metrics service, behind a viewer token (Prometheus sends one with
``authorization: {credentials_file: ...}`` in its scrape config); a token limited to some
workflows is refused, as the metrics are every workflow's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from daytwo.api._auth import viewer
from daytwo.api.routes._common import Api
from daytwo.app import App

__all__ = ["collectors_of", "router"]

router = APIRouter(tags=["metrics"])


def collectors_of(app: App) -> list[Any]:
    """What every /metrics endpoint of ``app`` serves: the core's collectors and those of
    each of its extensions (the worker's service serves the same list)."""
    return app.collectors() + [c for extension in app.extensions for c in extension.collectors()]


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
def metrics(api: Api, caller: viewer, accept: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus metrics of the app: circuit breakers and its extensions' (SLOs: SLIs,
    error budgets, burn rates, stuck instances); OpenMetrics if the scraper asks for it."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    # The metrics are every workflow's (labelled by workflow): not for a scoped token.
    caller.unscoped("/metrics (the metrics of every workflow)")
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors_of(api.app):
        registry.register(collector)
    encode, content_type = choose_encoder(accept or "")
    return Response(encode(registry), media_type=content_type)
