"""The words the SLO package stores (next to its tables, as the store's vocabulary is)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AlertStatus", "Severity"]


class Severity(StrEnum):
    """How urgent an alert is: a page wakes someone, a ticket waits for working hours."""

    PAGE = "page"
    TICKET = "ticket"


class AlertStatus(StrEnum):
    """An SLO alert row's state (``slo_alerts.status``)."""

    FIRING = "firing"
    RESOLVED = "resolved"
