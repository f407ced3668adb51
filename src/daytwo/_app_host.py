"""An App as its workers see it: the :class:`~daytwo.worker.WorkerHost` that ``app.worker()``
hands a Worker, with the background services every worker of the app runs (the task
deadlines, the scheduler, retention when a period is set, the outbox deliveries and each
extension's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from daytwo.engine import Clock, Registry, Runtime
from daytwo.store import FlowControl, Store
from daytwo.worker import Retention, RetentionService, retention_periods

if TYPE_CHECKING:
    from daytwo.app import App
    from daytwo.worker import BackgroundService

__all__ = ["AppWorkerHost"]


class AppWorkerHost:
    """An App as its workers see it (:class:`~daytwo.worker.WorkerHost`); read lazily, so
    that ``app.worker()`` opens no database before the worker starts."""

    def __init__(self, app: App) -> None:
        self._app = app

    @property
    def store(self) -> Store:
        return self._app.store

    @property
    def clock(self) -> Clock:
        return self._app.clock

    @property
    def registry(self) -> Registry:
        return self._app.registry

    @property
    def runtime(self) -> Runtime:
        return self._app.runtime

    @property
    def flow(self) -> FlowControl:
        return self._app.flow

    @property
    def services(self) -> Sequence[BackgroundService]:
        # Asked at every worker start: what the extensions registered until then.
        from daytwo.worker import InstanceDeadlines, OutboxDelivery, Scheduler, TaskDeadlines

        extensions = self._app.extensions
        # Core: reminders and escalations of human tasks (one process per cluster).
        services: list[BackgroundService] = [TaskDeadlines(self.store, self.clock)]
        # Core: the schedules' ticks (every worker ticks; each tick starts once).
        services.append(Scheduler(self.store, self.clock))
        # Core: the deadlines of whole instances (``timeout=``; one process per cluster).
        services.append(InstanceDeadlines(self.store, self.clock))
        services += [s for extension in extensions for s in extension.services()]
        for extension in extensions:
            services += [
                OutboxDelivery(self.store, self.clock, subscriber)
                for subscriber in extension.subscribers()
            ]
        retention = self._app.retention or Retention()
        periods = retention_periods(self.registry, retention.instances)
        if periods or retention.prunes:
            services.append(RetentionService(self.store, self.clock, retention, periods))
        return services

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._app.events.add_listener(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        self._app.events.remove_listener(listener)

    def run_finished(self, instance_id: str, ended: bool) -> None:
        self._app.events.run_finished(instance_id, ended)

    def worker_started(self, worker_id: str) -> None:
        # It counts as live for this app whatever its heartbeat (a fake clock runs ahead).
        self._app.client.serving.worker_started(worker_id)

    def worker_stopped(self, worker_id: str) -> None:
        self._app.client.serving.worker_stopped(worker_id)
