"""How a new incident gets its severity and its assignee: the seam between incidents and
the ownership registry with its severity matrix (``_ownership.py``, ``_severity.py``).

:class:`Incidents` asks an :class:`Assessor` once per new incident, inside nothing (it
reads the registry in force); the default one, used when no ownership file was applied,
takes the source's severity hint or SEV3 and assigns nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import Impact, Severity, Urgency

__all__ = ["Assessment", "Assessor", "DefaultAssessor"]


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the registry says about a new incident."""

    severity: Severity
    impact: Impact | None = None
    urgency: Urgency | None = None
    #: Who is responsible at that severity (a person or team of the registry).
    assignee: str | None = None
    #: The ownership version it was judged under (None: no registry applied).
    ownership_version: int | None = None


class Assessor(Protocol):
    """Judges a trigger that opens an incident."""

    def assess(self, trigger: Trigger) -> Assessment: ...


class DefaultAssessor:
    """No registry: the source's severity, else SEV3; nobody assigned."""

    def assess(self, trigger: Trigger) -> Assessment:
        return Assessment(severity=trigger.severity_hint or Severity.SEV3)
