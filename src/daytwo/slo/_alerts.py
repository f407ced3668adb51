"""Alert records in the store, and the sinks they are delivered to.

An alert is a row of ``slo_alerts``: firing until the evaluator finds its condition gone,
then resolved. ``dedup_key`` (``slo/<objective>/<page|ticket|no-data>``) identifies the
condition; at most one row per key is firing. Sinks receive an alert when it fires and when
it resolves; a sink that fails is logged and does not stop the others or the evaluation.
A webhook is delivered through the durable outbox, with retries (``_delivery.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from daytwo.slo._tables import slo_alerts
from daytwo.slo._vocabulary import AlertStatus
from daytwo.store import Store

__all__ = [
    "Alert",
    "AlertSink",
    "DesiredAlert",
    "LogSink",
    "WebhookSink",
    "deliver",
    "list_alerts",
    "reconcile_alerts",
]

log = logging.getLogger("daytwo.slo.alerts")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert record."""

    id: int
    dedup_key: str
    objective: str
    definition_version: int
    severity: str
    status: str
    labels: dict[str, str]
    summary: str
    runbook: str | None
    detail: dict[str, Any]
    fired_at: float
    resolved_at: float | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Alert:
        """Build from a ``slo_alerts`` row."""
        return cls(
            id=row["id"],
            dedup_key=row["dedup_key"],
            objective=row["objective"],
            definition_version=row["definition_version"],
            severity=row["severity"],
            status=row["status"],
            labels=json.loads(row["labels"]),
            summary=row["summary"],
            runbook=row["runbook"],
            detail=json.loads(row["detail"]) if row["detail"] else {},
            fired_at=row["fired_at"],
            resolved_at=row["resolved_at"],
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what the webhook sink posts)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DesiredAlert:
    """An alert condition that holds now, as the evaluator found it."""

    dedup_key: str
    objective: str
    definition_version: int
    severity: str
    summary: str
    runbook: str | None
    labels: dict[str, str] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class AlertSink(Protocol):
    """Where alerts go when they fire or resolve (``alert.status`` says which)."""

    def deliver(self, alert: Alert) -> None:
        """Hand the alert on; may raise, which is logged."""
        ...


class LogSink:
    """Logs alerts on ``daytwo.slo.alerts``: firing as warnings, resolved as info."""

    def deliver(self, alert: Alert) -> None:
        """Write one log line."""
        level = logging.WARNING if alert.status == AlertStatus.FIRING else logging.INFO
        runbook = f" runbook: {alert.runbook}" if alert.runbook else ""
        log.log(
            level, "[%s] %s %s: %s%s", alert.severity.upper(), alert.status, alert.dedup_key,
            alert.summary, runbook,
        )  # fmt: skip


class WebhookSink:
    """POSTs ``{"event": "firing"|"resolved", "alert": {...}, "event_id": N}`` to ``url``.

    Delivered through the outbox (``_delivery.py``): at least once, in order, retried with
    backoff. ``event_id`` (also in the ``X-Daytwo-Event-Id`` header) is the same for every
    repeat of one alert change: receivers deduplicate on it. ``name`` is its outbox
    subscriber name (default: the URL's host and a digest of the URL, which may hold a
    token and is never shown); give one to keep the position when the URL changes.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must start with http:// or https:// (got {url!r})")
        self.url = url
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        host = (urllib.parse.urlsplit(url).hostname or "")[:60]
        self.subscriber_name = name or f"webhook:{host}:{digest}"

    def deliver(self, alert: Alert, *, event_id: int | None = None) -> None:
        """One POST; raises on a non-2xx answer or a network error."""
        payload: dict[str, Any] = {"event": alert.status, "alert": alert.to_json()}
        headers = dict(self.headers)
        if event_id is not None:
            payload["event_id"] = event_id
            headers["X-Daytwo-Event-Id"] = str(event_id)
        body = json.dumps(payload).encode()
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if not 200 <= response.status < 300:
                raise urllib.error.HTTPError(
                    self.url, response.status, "webhook refused the alert", response.headers, None
                )


def deliver(sinks: Sequence[AlertSink], alerts: Sequence[Alert]) -> None:
    """Give every alert to every sink; a failing sink is logged, not fatal."""
    for alert in alerts:
        for sink in sinks:
            try:
                sink.deliver(alert)
            except Exception as exc:
                log.warning(
                    "alert %s (%s) not delivered to %s: %s",
                    alert.dedup_key, alert.status, type(sink).__name__, exc,
                )  # fmt: skip


def reconcile_alerts(
    conn: sa.Connection, objectives: Sequence[str], desired: Sequence[DesiredAlert], now: float
) -> list[Alert]:
    """Make the firing alerts of ``objectives`` match ``desired``; return what changed.

    New conditions are inserted firing, conditions that hold still keep their row (summary
    and detail refreshed), firing rows whose condition is gone are resolved.
    """
    firing = {
        row["dedup_key"]: row
        for row in conn.execute(
            sa.select(slo_alerts).where(
                slo_alerts.c.status == AlertStatus.FIRING,
                slo_alerts.c.objective.in_(list(objectives)),
            )
        ).mappings()
    }
    changed_ids: list[int] = []
    for alert in desired:
        row = firing.pop(alert.dedup_key, None)
        values = {"summary": alert.summary, "detail": json.dumps(alert.detail)}
        if row is not None:
            conn.execute(slo_alerts.update().where(slo_alerts.c.id == row["id"]).values(values))
            continue
        result = conn.execute(
            slo_alerts.insert().values(
                dedup_key=alert.dedup_key,
                objective=alert.objective,
                definition_version=alert.definition_version,
                severity=alert.severity,
                status=AlertStatus.FIRING,
                labels=json.dumps(alert.labels, sort_keys=True),
                runbook=alert.runbook,
                fired_at=now,
                **values,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        changed_ids.append(int(key[0]))
    for row in firing.values():
        conn.execute(
            slo_alerts.update()
            .where(slo_alerts.c.id == row["id"])
            .values(status=AlertStatus.RESOLVED, resolved_at=now)
        )
        changed_ids.append(row["id"])
    if not changed_ids:
        return []
    rows = conn.execute(
        sa.select(slo_alerts).where(slo_alerts.c.id.in_(changed_ids)).order_by(slo_alerts.c.id)
    ).mappings()
    return [Alert.from_row(row) for row in rows]


def list_alerts(
    store: Store,
    *,
    status: str | None = None,
    objective: str | None = None,
    limit: int = 100,
    objectives: Collection[str] | None = None,
) -> list[Alert]:
    """Alerts, newest first, optionally only ``firing`` or ``resolved`` ones, of one
    ``objective`` or of some ``objectives`` (a token's workflow scope, over HTTP)."""
    query = sa.select(slo_alerts).order_by(slo_alerts.c.fired_at.desc(), slo_alerts.c.id.desc())
    if status is not None:
        query = query.where(slo_alerts.c.status == status)
    if objective is not None:
        query = query.where(slo_alerts.c.objective == objective)
    if objectives is not None:
        query = query.where(slo_alerts.c.objective.in_(sorted(objectives)))
    with store.read() as conn:
        return [Alert.from_row(row) for row in conn.execute(query.limit(limit)).mappings()]
