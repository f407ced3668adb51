"""The SLO package as an App extension: its objectives, the evaluator, /metrics and routes.

This is the worked example of the extension contract (``daytwo/_extension.py``): the
objectives registered on an app live on its :class:`SloExtension`; every worker of the app
(``daytwo worker`` or ``app.worker()``) runs the evaluator service when there are
objectives, and the /metrics service when ``metrics_port`` is set; the /metrics endpoint
serves the collectors of every extension of the app, this one's first; the HTTP API
(``daytwo serve``) mounts its routes (``/v1/slo/...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from daytwo._errors import InvalidInput
from daytwo._extension import Extension
from daytwo.slo._alerts import AlertSink, LogSink
from daytwo.slo._definitions import Objective

if TYPE_CHECKING:
    from daytwo.app import App
    from daytwo.worker import BackgroundService

__all__ = ["LOOPBACK", "SloExtension", "every_collector", "extension_of"]

#: Where /metrics listens unless told otherwise: this machine only. The metrics name
#: workflows, steps and error budgets; exposing them to the network is a decision.
LOOPBACK = "127.0.0.1"


class SloExtension(Extension):
    """Process SLOs of one app.

    ``interval``: seconds between evaluations (one evaluator at a time per database);
    ``sinks``: where the evaluator reports alert changes (default: the log; a webhook is
    delivered through the durable outbox);
    ``metrics_port``: also serve Prometheus /metrics from every worker on this port
    (0: any free one) and ``metrics_host`` (default: loopback only).
    """

    name = "slo"

    def __init__(
        self,
        objectives: Sequence[Objective] = (),
        *,
        interval: float = 60.0,
        sinks: Sequence[AlertSink] | None = None,
        metrics_port: int | None = None,
        metrics_host: str = LOOPBACK,
    ) -> None:
        if interval <= 0:
            raise InvalidInput(
                f"the SLO interval must be a positive number of seconds (got {interval})"
            )
        self.interval = interval
        self.sinks: list[AlertSink] = [LogSink()] if sinks is None else list(sinks)
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self._objectives: dict[str, Objective] = {}
        self._app: App | None = None
        self.add(*objectives)

    @property
    def app(self) -> App:
        if self._app is None:
            raise InvalidInput("this SloExtension is not plugged into an app; pass it to app.use()")
        return self._app

    def attach(self, app: App) -> None:
        self._app = app

    def add(self, *objectives: Objective) -> None:
        """Register objectives: the same definition twice is harmless; two different
        definitions under one name are refused."""
        for objective in objectives:
            if not isinstance(objective, Objective):
                raise InvalidInput(f"{objective!r} is not a daytwo.slo.Objective")
            previous = self._objectives.get(objective.name)
            if previous is not None and previous != objective:
                raise InvalidInput(
                    f"objective {objective.name!r} is registered twice with different "
                    "definitions; give each objective its own name"
                )
            self._objectives[objective.name] = objective

    @property
    def objectives(self) -> list[Objective]:
        """The registered objectives, in registration order."""
        return list(self._objectives.values())

    def services(self) -> Sequence[BackgroundService]:
        from daytwo.slo._evaluator import Evaluator
        from daytwo.slo._metrics import MetricsService
        from daytwo.slo._service import EvaluatorService

        services: list[Any] = []
        if self._objectives:
            evaluator = Evaluator.for_app(self.app, self.objectives, sinks=self.sinks)
            services.append(EvaluatorService(evaluator, interval=self.interval))
            # The durable sinks' outbox deliveries (webhooks) run beside it, retrying.
            services += evaluator.deliveries
        if self.metrics_port is not None:
            services.append(
                MetricsService(every_collector(self.app), self.metrics_port, self.metrics_host)
            )
        return services

    def collectors(self) -> Sequence[Any]:
        from daytwo.slo._metrics import StoreCollector

        return [StoreCollector.for_app(self.app, self.objectives)]

    def routes(self) -> Sequence[Any]:
        """``/v1/slo/status``, ``/alerts`` and ``/stuck``: what ``daytwo slo status``,
        ``alerts`` and ``stuck`` print (``_routes.py``)."""
        from daytwo.slo._routes import router

        return [router]


def every_collector(app: App) -> list[Any]:
    """What a /metrics endpoint of ``app`` serves: the core's collectors and those of all
    its extensions."""
    return app.collectors() + [c for extension in app.extensions for c in extension.collectors()]


def extension_of(app: App) -> SloExtension | None:
    """The app's SLO extension, if it has one (without adding it)."""
    for extension in app.extensions:
        if isinstance(extension, SloExtension):
            return extension
    return None
