"""A trigger: one alert signal, from whatever source, in the shape incidents take in.

Every source (an SLO alert through the outbox, an Alertmanager webhook, a PagerDuty
Events v2 call, a rule over the engine's events) is turned into :class:`Trigger` values,
and :meth:`Incidents.ingest` is the one place that decides what a trigger does: open an
incident, append to the open one with its ``dedup_key``, or resolve an alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from daytwo.incidents._vocabulary import Severity, Source, TriggerAction

__all__ = ["Trigger"]


@dataclass(frozen=True, slots=True)
class Trigger:
    """One alert signal.

    ``dedup_key`` groups signals into one incident while it is open (Alertmanager's
    ``groupKey``, PagerDuty's ``dedup_key``, an SLO alert's key); ``alert_key`` names the
    single alert within the group (Alertmanager's ``fingerprint``; by default the dedup
    key): an incident resolves on its own when every alert of it has resolved.
    ``kind`` is what the severity rules match on (``slo.page``, ``slo.ticket``,
    ``alertmanager``, ``events``, ``instance.parked``, ``circuit.opened``).
    """

    source: Source
    dedup_key: str
    action: TriggerAction
    summary: str
    kind: str
    alert_key: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    workflow: str | None = None
    dependency: str | None = None
    #: The severity the source asks for (PagerDuty's ``severity``), used when no rule of
    #: the severity matrix decides.
    severity_hint: Severity | None = None
    #: When the source says it happened (None: when it arrives).
    at: float | None = None
    #: What the source sent besides, kept in the timeline (no secrets: routing keys and
    #: tokens are dropped by the parsers).
    details: Mapping[str, Any] = field(default_factory=dict)
    #: Resolve the incident on its own after this many seconds without a signal (for
    #: sources that never send a resolve); None: wait for a resolve.
    quiet_after: float | None = None

    @property
    def key(self) -> str:
        """The alert's own key (``alert_key``, else the dedup key)."""
        return self.alert_key or self.dedup_key
