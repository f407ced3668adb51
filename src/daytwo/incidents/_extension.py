"""The incidents package as an App extension: the service, its reactions and its routes.

Every worker of an app with this extension runs the rules that turn SLO alerts and engine
events into incidents (outbox subscribers), the notifier (an outbox subscriber per
channel kind), and the quiet-period sweep; ``daytwo serve`` mounts ``/v1/incidents`` and
``/v1/owners``, and the ingest receivers at the root (``/ingest/alertmanager``,
``/ingest/events``), whose paths other systems are configured with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from daytwo._errors import InvalidInput
from daytwo._extension import Extension
from daytwo.incidents._assessment import Assessor
from daytwo.incidents._incidents import Incidents

if TYPE_CHECKING:
    from daytwo.app import App
    from daytwo.worker import BackgroundService, OutboxSubscriber

__all__ = ["IncidentsExtension"]


class IncidentsExtension(Extension):
    """Incidents of one app.

    ``assessor``: how a new incident gets its severity and assignee (default: the
    ownership registry in force, see ``daytwo owners apply``).
    """

    name = "incidents"

    def __init__(self, *, assessor: Assessor | None = None, sweep_interval: float = 30.0) -> None:
        if sweep_interval <= 0:
            raise InvalidInput(
                f"the incidents sweep interval must be positive (got {sweep_interval})"
            )
        self._assessor = assessor
        self.sweep_interval = sweep_interval
        self._app: App | None = None
        self._incidents: Incidents | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            raise InvalidInput(
                "this IncidentsExtension is not plugged into an app; pass it to app.use()"
            )
        return self._app

    def attach(self, app: App) -> None:
        self._app = app

    @property
    def incidents(self) -> Incidents:
        """The service (built on first use: the app's store opens lazily)."""
        if self._incidents is None:
            app = self.app
            self._incidents = Incidents(app.store, app.clock, self._assessor)
        return self._incidents

    def services(self) -> Sequence[BackgroundService]:
        return []

    def subscribers(self) -> Sequence[OutboxSubscriber]:
        return []

    def routes(self) -> Sequence[Any]:
        from daytwo.incidents._routes import router

        return [router]
