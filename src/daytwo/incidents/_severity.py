"""The severity matrix and its rules: how a trigger's kind and labels and the criticality
of what it is about become an impact, an urgency and so a severity.

``ownership.yaml`` may give a ``severity:`` section (a matrix and rules); without one, the
defaults below hold: impact follows the criticality of the workflow or dependency, urgency
follows the kind of alert. Rules are tried in order; for each axis the first matching rule
that sets it wins, and an axis no rule sets falls back to the default. With the default
matrix a page-level burn on a critical workflow is SEV1, on a high-criticality one SEV2,
and a ticket-level burn on a critical one SEV3.
"""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from daytwo.incidents._assessment import Assessment
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import Criticality, Impact, RaciRole, Severity, Urgency

if TYPE_CHECKING:
    from daytwo.incidents._ownership import Ownership

__all__ = [
    "DEFAULT_MATRIX",
    "RuleMatch",
    "SeverityMatrix",
    "SeverityRule",
    "SeveritySpec",
    "assess",
    "default_impact",
    "default_urgency",
]

#: Impact (rows) by urgency (columns) → severity, when ``ownership.yaml`` gives none.
DEFAULT_MATRIX: dict[Impact, dict[Urgency, Severity]] = {
    Impact.HIGH: {Urgency.HIGH: Severity.SEV1, Urgency.MEDIUM: Severity.SEV2,
                  Urgency.LOW: Severity.SEV3},
    Impact.MEDIUM: {Urgency.HIGH: Severity.SEV2, Urgency.MEDIUM: Severity.SEV3,
                    Urgency.LOW: Severity.SEV4},
    Impact.LOW: {Urgency.HIGH: Severity.SEV3, Urgency.MEDIUM: Severity.SEV4,
                 Urgency.LOW: Severity.SEV4},
}  # fmt: skip

_IMPACT_OF_CRITICALITY = {
    Criticality.CRITICAL: Impact.HIGH,
    Criticality.HIGH: Impact.MEDIUM,
    Criticality.MEDIUM: Impact.MEDIUM,
    Criticality.LOW: Impact.LOW,
}

#: The urgency of the engine's and the SLO package's alert kinds.
_URGENCY_OF_KIND = {
    "slo.page": Urgency.HIGH,
    "slo.ticket": Urgency.LOW,
    "slo.no-data": Urgency.LOW,
    "instance.parked": Urgency.MEDIUM,
    "instance.deadline_exceeded": Urgency.MEDIUM,
    "circuit.opened": Urgency.HIGH,
}

#: External sources (Alertmanager, PagerDuty events) say how bad it is themselves.
_URGENCY_OF_HINT = {
    Severity.SEV1: Urgency.HIGH,
    Severity.SEV2: Urgency.HIGH,
    Severity.SEV3: Urgency.MEDIUM,
    Severity.SEV4: Urgency.LOW,
}


def default_impact(criticality: Criticality | None) -> Impact:
    """The impact of a trigger on something of ``criticality`` (None: not in the registry)."""
    return Impact.MEDIUM if criticality is None else _IMPACT_OF_CRITICALITY[criticality]


def default_urgency(trigger: Trigger) -> Urgency:
    """The urgency of a trigger by its kind; other kinds by the source's severity hint."""
    known = _URGENCY_OF_KIND.get(trigger.kind)
    if known is not None:
        return known
    if trigger.severity_hint is not None:
        return _URGENCY_OF_HINT[trigger.severity_hint]
    return Urgency.MEDIUM


class SeverityMatrix:
    """Impact by urgency → severity (every one of the nine cells given)."""

    def __init__(self, cells: dict[Impact, dict[Urgency, Severity]] | None = None) -> None:
        self.cells = cells or DEFAULT_MATRIX

    def severity(self, impact: Impact, urgency: Urgency) -> Severity:
        return self.cells[impact][urgency]


class RuleMatch(BaseModel):
    """What a rule applies to; every key is optional and all given ones must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The trigger's kind, as a glob (``slo.*``).
    kind: str | None = None
    #: The criticality of the workflow or dependency it is about.
    criticality: Criticality | None = None
    #: Labels the trigger must carry, with exactly these values.
    labels: dict[str, str] = Field(default_factory=dict)


class SeverityRule(BaseModel):
    """A rule: when it matches, the impact and/or urgency it sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: RuleMatch = Field(default_factory=RuleMatch)
    impact: Impact | None = None
    urgency: Urgency | None = None

    def matches(self, trigger: Trigger, criticality: Criticality | None) -> bool:
        match = self.match
        if match.kind is not None and not fnmatchcase(trigger.kind, match.kind):
            return False
        if match.criticality is not None and match.criticality is not criticality:
            return False
        return all(trigger.labels.get(k) == v for k, v in match.labels.items())


class SeveritySpec(BaseModel):
    """The ``severity:`` section of ``ownership.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    matrix: dict[Impact, dict[Urgency, Severity]] = Field(
        default_factory=lambda: {i: dict(row) for i, row in DEFAULT_MATRIX.items()}
    )
    rules: list[SeverityRule] = Field(default_factory=list)


def judge(
    trigger: Trigger,
    criticality: Criticality | None,
    rules: list[SeverityRule],
    matrix: SeverityMatrix,
) -> tuple[Impact, Urgency, Severity]:
    """The impact, urgency and severity of ``trigger`` under ``rules`` and ``matrix``."""
    impact: Impact | None = None
    urgency: Urgency | None = None
    for rule in rules:
        if (impact is None or urgency is None) and rule.matches(trigger, criticality):
            impact = impact or rule.impact
            urgency = urgency or rule.urgency
    impact = impact or default_impact(criticality)
    urgency = urgency or default_urgency(trigger)
    return impact, urgency, matrix.severity(impact, urgency)


def assess(trigger: Trigger, ownership: Ownership, version: int | None = None) -> Assessment:
    """The severity of ``trigger`` under ``ownership`` and who is responsible at it (the
    first R of the workflow's or dependency's RACI at that severity)."""
    entry = ownership.entry_for(trigger.workflow, trigger.dependency)
    criticality = None if entry is None else entry.criticality
    impact, urgency, severity = judge(trigger, criticality, ownership.rules, ownership.matrix)
    assignee = None
    if entry is not None:
        responsible = ownership.raci(entry, severity)[RaciRole.RESPONSIBLE]
        assignee = responsible[0] if responsible else None
    judged = Assessment(severity=severity, impact=impact, urgency=urgency, assignee=assignee)
    return replace(judged, ownership_version=version)
