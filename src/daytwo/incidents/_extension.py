"""The incidents package as an App extension: the service, its reactions and its routes.

Every worker of an app with this extension runs the rules that turn SLO alerts and engine
events into incidents (outbox subscribers), the notifier (an outbox subscriber per
channel kind), and the quiet-period sweep; ``daytwo serve`` mounts ``/v1/incidents`` and
``/v1/owners``, and the ingest receivers at the root (``/ingest/alertmanager``,
``/ingest/events``), whose paths other systems are configured with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from daytwo._errors import InvalidInput
from daytwo._extension import Extension
from daytwo.incidents._assessment import Assessor
from daytwo.incidents._channels import SmtpSettings
from daytwo.incidents._contacts import Recipient
from daytwo.incidents._incidents import Incidents
from daytwo.incidents._notifier import RecipientsOf, notification_deliveries, notifier_name
from daytwo.incidents._records import Incident
from daytwo.incidents._registry import OwnershipAssessor
from daytwo.incidents._rules import CircuitRule, ParkedInstanceRule, SloAlertRule
from daytwo.incidents._sweep import QuietSweep
from daytwo.incidents._templates import Templates
from daytwo.incidents._vocabulary import ChannelKind, Criticality
from daytwo.store import SubscriberStart, ensure_subscriber
from daytwo.worker import OutboxDelivery

if TYPE_CHECKING:
    from daytwo.app import App
    from daytwo.worker import BackgroundService, OutboxSubscriber

__all__ = ["IncidentsExtension"]

log = logging.getLogger("daytwo.incidents")


class IncidentsExtension(Extension):
    """Incidents of one app.

    ``assessor``: how a new incident gets its severity and assignee (default: the
    ownership registry in force, see ``daytwo owners apply``); ``sweep_interval``: seconds
    between quiet-period sweeps; ``parked_at``: the least criticality of a workflow whose
    parked instances open incidents.
    """

    name = "incidents"

    def __init__(
        self,
        *,
        assessor: Assessor | None = None,
        sweep_interval: float = 30.0,
        parked_at: Criticality = Criticality.CRITICAL,
        smtp: SmtpSettings | None = None,
        templates: Templates | None = None,
        recipients: RecipientsOf | None = None,
    ) -> None:
        if sweep_interval <= 0:
            raise InvalidInput(
                f"the incidents sweep interval must be positive (got {sweep_interval})"
            )
        self._assessor = assessor
        self.sweep_interval = sweep_interval
        #: Parked instances open incidents on workflows at least this critical.
        self.parked_at = Criticality(parked_at)
        #: Where e-mail goes out (default: ``$DAYTWO_SMTP_URL``, read at the first send).
        self.smtp = smtp
        self.templates = templates or Templates()
        self._recipients = recipients
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
            self.registry = OwnershipAssessor(app.store)
            self._incidents = Incidents(app.store, app.clock, self._assessor or self.registry)
            self._incidents.subscribers = tuple(notifier_name(kind) for kind in ChannelKind)
        return self._incidents

    def recipients(self, incident: Incident) -> Sequence[Recipient]:
        """Who is told about ``incident``: its RACI at its severity, by the registry."""
        if self._recipients is not None:
            return self._recipients(incident)
        self.incidents  # noqa: B018 -- builds the registry
        current = self.registry.current()
        if current is None:
            return ()
        return current[1].recipients(incident.workflow, incident.dependency, incident.severity)

    def criticality(self, workflow: str | None, dependency: str | None) -> Criticality | None:
        """How important ``workflow`` (or ``dependency``) is, by the registry in force."""
        self.incidents  # noqa: B018 -- builds the registry
        current = self.registry.current()
        return None if current is None else current[1].criticality_of(workflow, dependency)

    def rules(self) -> list[OutboxSubscriber]:
        """The rules that turn SLO alerts and engine events into incidents."""
        incidents = self.incidents
        return [
            SloAlertRule(incidents),
            ParkedInstanceRule(incidents, self.criticality, at_least=self.parked_at),
            CircuitRule(incidents),
        ]

    def deliveries(self) -> list[OutboxDelivery]:
        """An outbox delivery per rule and per notification channel. They start at the end
        of the outbox: a database with a long past does not open incidents for alerts that
        fired before incidents were installed, nor page people about old incidents."""
        app = self.app
        rules = [
            OutboxDelivery(app.store, app.clock, rule, start=SubscriberStart.END)
            for rule in self.rules()
        ]
        smtp = self.smtp or SmtpSettings.from_env()
        return rules + notification_deliveries(
            app.store, app.clock, self.incidents, self.recipients, smtp, self.templates
        )

    def register(self) -> None:
        """Register the subscribers now (at the end of the outbox), so that events
        appended from here on reach them even before a worker runs a round."""
        app = self.app
        names = [rule.name for rule in self.rules()] + list(self.incidents.subscribers)
        with app.store.write() as conn:
            for name in names:
                ensure_subscriber(conn, name, app.clock.now(), SubscriberStart.END)

    def run_once(self) -> None:
        """One round of every delivery and the sweep (tests, the demo, ``serve`` without
        a worker)."""
        for delivery in self.deliveries():
            delivery.run_once()
        QuietSweep(self.incidents, self.sweep_interval).run_once()

    def services(self) -> Sequence[BackgroundService]:
        # Asked at every worker start (``daytwo worker`` and ``app.worker()`` alike): the
        # moment to say which of the app's workflows nobody owns.
        warning = self.unowned_warning()
        if warning is not None:
            log.warning(warning)
        return [*self.deliveries(), QuietSweep(self.incidents, self.sweep_interval)]

    def unowned_warning(self) -> str | None:
        """Which of the app's workflows have no owner in the registry in force (None:
        every one has)."""
        workflows = sorted(n for n in self.app.registry.workflows if not n.startswith("daytwo."))
        if not workflows:
            return None
        self.incidents  # noqa: B018 -- builds the registry
        current = self.registry.current()
        missing = workflows if current is None else current[1].unowned(workflows)
        if not missing:
            return None
        return (
            f"workflows without an owner in ownership.yaml: {', '.join(missing)} (give each "
            "a business_owner and an it_team under workflows:, then `daytwo owners apply`)"
        )

    def root_routes(self) -> Sequence[Any]:
        from daytwo.incidents._ingest_routes import ingest_router

        return [ingest_router]

    def routes(self) -> Sequence[Any]:
        """``/v1/incidents/...`` (``_routes.py``) and ``/v1/owners`` (``_owners_routes.py``)."""
        from daytwo.incidents._owners_routes import owners_router
        from daytwo.incidents._routes import router

        return [router, owners_router]
