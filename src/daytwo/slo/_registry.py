"""Objectives registered next to the workflows of an App (the Python way to define them).

They live on the app's :class:`~daytwo.slo.SloExtension`, added on the first
:func:`register`.
"""

from __future__ import annotations

from daytwo._errors import InvalidInput
from daytwo.app import App
from daytwo.slo._alerts import AlertSink
from daytwo.slo._definitions import Objective
from daytwo.slo._extension import SloExtension, extension_of

__all__ = ["add_alert_sinks", "alert_sinks_for", "objectives_for", "register"]


def register(app: App, *objectives: Objective) -> None:
    """Attach objectives to ``app``; its workers evaluate them, ``daytwo slo`` shows them.

    Registering the same definition twice is harmless; two different definitions under one
    name are refused.
    """
    app.extension(SloExtension).add(*objectives)


def objectives_for(app: App) -> list[Objective]:
    """The objectives registered on ``app``, in registration order."""
    extension = extension_of(app)
    return [] if extension is None else extension.objectives


def add_alert_sinks(app: App, *sinks: AlertSink) -> None:
    """Send ``app``'s alerts to ``sinks`` too, from every worker that evaluates them.

    Durable sinks (webhooks) are delivered through the outbox by every worker, one at a
    time, with retries.
    """
    for sink in sinks:
        if not isinstance(sink, AlertSink):
            raise InvalidInput(f"{sink!r} is not an alert sink; give it a deliver(alert) method")
    app.extension(SloExtension).sinks.extend(sinks)


def alert_sinks_for(app: App) -> list[AlertSink]:
    """Where the app's alerts go (the log, and the sinks added with :func:`add_alert_sinks`)."""
    extension = extension_of(app)
    return [] if extension is None else list(extension.sinks)


def step_dependencies(app: App) -> dict[str, str]:
    """Step name → the dependency it calls, for the app's steps that declare one."""
    return {
        name: step.dependency
        for name, step in app.registry.steps.items()
        if step.dependency is not None
    }
