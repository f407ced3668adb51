"""Rules that turn other packages' outbox events into triggers: SLO alerts, parked
instances on critical workflows, opened circuits.

They are outbox subscribers, so the incidents package never calls the SLO package or the
engine (and they never call it): an ``alert.fired`` event written with the alert's row
becomes a trigger here, at least once (``Incidents.ingest`` of a repeated trigger only
appends to the open incident, so a redelivered event does no harm beyond a timeline row).

* **SLO alerts.** One incident per objective: the page and ticket alerts of ``order-99``
  are two alerts (``slo/order-99/page``, ``.../ticket``) of the incident grouped by
  ``slo/order-99``, so a ticket-level burn that follows a page appends to it, and the
  incident resolves when both have resolved. The kind is ``slo.page``, ``slo.ticket`` or
  ``slo.no-data`` (what the severity rules match); the alert's budget left travels in the
  details (the report's "budget consumed during incidents").
* **Parked instances** (``instance.parked``) of a workflow whose criticality in the
  ownership registry is at least ``parked_at`` (critical by default): one incident per
  workflow, an alert per instance. The engine sends no "unparked" event, so these
  incidents resolve after a quiet period (``parked_quiet``) or by hand.
* **Circuits**: ``circuit.opened`` opens (or appends to) the dependency's incident,
  ``circuit.closed`` resolves it. Forcing a circuit open is an operator's decision, not an
  incident.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from daytwo.incidents._incidents import Incidents
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import Criticality, Source, TriggerAction
from daytwo.store import EventKind, OutboxEvent

__all__ = [
    "CRITICALITY_ORDER",
    "CircuitRule",
    "ParkedInstanceRule",
    "SloAlertRule",
    "slo_trigger",
]

#: Criticalities from the most to the least important.
CRITICALITY_ORDER: tuple[Criticality, ...] = tuple(Criticality)  # declared most first

#: ``criticality(workflow, dependency)``: what the ownership registry says (None: unowned).
CriticalityOf = Callable[[str | None, str | None], Criticality | None]


def slo_trigger(event: OutboxEvent) -> Trigger:
    """The trigger of an ``alert.fired`` or ``alert.resolved`` event (its payload is the
    SLO alert record, ``daytwo.slo.Alert.to_json()``)."""
    alert: dict[str, Any] = event.payload
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    objective = str(alert.get("objective") or labels.get("objective") or event.key)
    severity = "no-data" if labels.get("alert") == "no-data" else str(alert.get("severity"))
    detail = alert.get("detail") or {}
    resolved = event.kind is EventKind.ALERT_RESOLVED
    details = {
        "objective": objective,
        "alert_id": alert.get("id"),
        "runbook": alert.get("runbook"),
        "budget_remaining": detail.get("budget_remaining"),
        "sli": detail.get("sli"),
    }
    return Trigger(
        source=Source.SLO,
        dedup_key=f"slo/{objective}",
        alert_key=str(alert.get("dedup_key") or event.key),
        action=TriggerAction.RESOLVE if resolved else TriggerAction.TRIGGER,
        summary=str(alert.get("summary") or objective),
        kind=f"slo.{severity}",
        labels=labels,
        workflow=labels.get("workflow"),
        at=alert.get("resolved_at") if resolved else alert.get("fired_at"),
        details={k: v for k, v in details.items() if v is not None},
    )


class SloAlertRule:
    """SLO alert events -> incidents (an outbox subscriber)."""

    name = "incidents-slo-alerts"
    kinds: Collection[EventKind] = frozenset({EventKind.ALERT_FIRED, EventKind.ALERT_RESOLVED})

    def __init__(self, incidents: Incidents) -> None:
        self.incidents = incidents

    def handle(self, event: OutboxEvent) -> None:
        self.incidents.ingest(slo_trigger(event))


class ParkedInstanceRule:
    """Parked instances of important workflows -> incidents (an outbox subscriber)."""

    name = "incidents-parked-instances"
    kinds: Collection[EventKind] = frozenset({EventKind.INSTANCE_PARKED})

    def __init__(
        self,
        incidents: Incidents,
        criticality: CriticalityOf,
        *,
        at_least: Criticality = Criticality.CRITICAL,
        quiet: float = 3600.0,
    ) -> None:
        self.incidents = incidents
        self.criticality = criticality
        self.at_least = at_least
        self.quiet = quiet

    def handle(self, event: OutboxEvent) -> None:
        payload = event.payload
        workflow = payload.get("workflow")
        level = self.criticality(workflow, None)
        if level is None or CRITICALITY_ORDER.index(level) > CRITICALITY_ORDER.index(self.at_least):
            return
        error = payload.get("error") or {}
        what = f"{error.get('type')}: {error.get('message')}" if error else "no error recorded"
        self.incidents.ingest(
            Trigger(
                source=Source.RULE,
                dedup_key=f"parked/{workflow}",
                alert_key=f"parked/{event.key}",
                action=TriggerAction.TRIGGER,
                summary=f"{workflow} instance {event.key} parked at {payload.get('step')} "
                f"after {payload.get('attempt')} attempt(s) ({what})",
                kind=str(EventKind.INSTANCE_PARKED),
                labels={"workflow": str(workflow), "criticality": str(level)},
                workflow=workflow,
                at=payload.get("parked_at"),
                details={"instance_id": event.key, "step": payload.get("step"), "error": error},
                quiet_after=self.quiet,
            )
        )


class CircuitRule:
    """Opened and closed circuits -> incidents of the dependency (an outbox subscriber)."""

    name = "incidents-circuits"
    kinds: Collection[EventKind] = frozenset(
        {EventKind.CIRCUIT_OPENED, EventKind.CIRCUIT_CLOSED, EventKind.CIRCUIT_FORCED_CLOSED}
    )

    def __init__(self, incidents: Incidents) -> None:
        self.incidents = incidents

    def handle(self, event: OutboxEvent) -> None:
        opened = event.kind is EventKind.CIRCUIT_OPENED
        dependency = event.key
        payload = event.payload
        summary = f"circuit of {dependency} opened" if opened else f"circuit of {dependency} closed"
        reason = payload.get("why")
        self.incidents.ingest(
            Trigger(
                source=Source.RULE,
                dedup_key=f"circuit/{dependency}",
                action=TriggerAction.TRIGGER if opened else TriggerAction.RESOLVE,
                summary=summary + (f" ({reason})" if reason and opened else ""),
                kind=str(EventKind.CIRCUIT_OPENED),
                labels={"dependency": dependency},
                dependency=dependency,
                at=event.created_at,
                details={k: v for k, v in payload.items() if isinstance(v, str | int | float)},
            )
        )
