"""The severity matrix and rules: impact from criticality, urgency from the alert's kind,
rules over kind, criticality and labels, and the assignee (the first R at the severity)."""

from __future__ import annotations

import textwrap

import pytest

from daytwo.incidents import Impact, Severity, Source, Trigger, TriggerAction, Urgency
from daytwo.incidents._ownership import Ownership, parse_ownership
from daytwo.incidents._severity import SeverityMatrix, assess

OWNERSHIP = """\
teams: {payments-it: {}, platform: {}, ops: {}}
people: {ann: {}}
workflows:
  order: {criticality: critical, business_owner: ann, it_team: payments-it,
          raci: {SEV1: {R: [ops, payments-it]}}}
  refund: {criticality: high, business_owner: ann, it_team: payments-it}
  report: {criticality: low, it_team: platform}
  misc: {}
dependencies:
  payments-api: {criticality: critical, it_team: platform}
"""


def ownership(extra: str = "") -> Ownership:
    return parse_ownership(OWNERSHIP + textwrap.dedent(extra), "own.yaml")


def trigger(kind: str, workflow: str | None = "order", **extra: object) -> Trigger:
    return Trigger(
        source=Source.SLO, dedup_key="k", action=TriggerAction.TRIGGER, summary="s",
        kind=kind, workflow=workflow, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "workflow", "severity"),
    [
        ("slo.page", "order", Severity.SEV1),  # critical: high impact, high urgency
        ("slo.page", "refund", Severity.SEV2),  # high criticality: medium impact
        ("slo.ticket", "order", Severity.SEV3),  # high impact, low urgency
        ("slo.no-data", "order", Severity.SEV3),
        ("slo.page", "misc", Severity.SEV2),  # medium criticality (the default)
        ("slo.page", "unknown", Severity.SEV2),  # no entry: medium impact
        ("slo.ticket", "report", Severity.SEV4),
        ("instance.parked", "order", Severity.SEV2),
        ("instance.deadline_exceeded", "report", Severity.SEV4),
        ("circuit.opened", "order", Severity.SEV1),
        ("something.else", "order", Severity.SEV2),  # medium urgency
    ],
)
def test_default_rules(kind: str, workflow: str, severity: Severity) -> None:
    assert assess(trigger(kind, workflow), ownership()).severity is severity


def test_the_assessment_says_why_and_who() -> None:
    judged = assess(trigger("slo.page"), ownership(), version=7)
    assert (judged.impact, judged.urgency, judged.severity) == (
        Impact.HIGH, Urgency.HIGH, Severity.SEV1,
    )  # fmt: skip
    # The first R at SEV1 (the override), at SEV3 the default R (the IT team).
    assert (judged.assignee, judged.ownership_version) == ("ops", 7)
    assert assess(trigger("slo.ticket"), ownership()).assignee == "payments-it"
    assert assess(trigger("slo.page", "unknown"), ownership()).assignee is None
    assert assess(trigger("slo.page", "misc"), ownership()).assignee is None
    # A dependency's entry judges an alert about it.
    on_dependency = assess(trigger("circuit.opened", None, dependency="payments-api"), ownership())
    assert (on_dependency.severity, on_dependency.assignee) == (Severity.SEV1, "platform")


@pytest.mark.parametrize(
    ("hint", "severity"),
    [(Severity.SEV1, Severity.SEV1), (Severity.SEV2, Severity.SEV1),
     (Severity.SEV3, Severity.SEV2), (Severity.SEV4, Severity.SEV3), (None, Severity.SEV2)],
)  # fmt: skip
def test_external_alerts_take_urgency_from_their_severity(
    hint: Severity | None, severity: Severity
) -> None:
    found = trigger("alertmanager", "order", severity_hint=hint)
    assert assess(found, ownership()).severity is severity


def test_rules_first_match_per_axis_then_defaults() -> None:
    rules = ownership("""\
        severity:
          rules:
            - {match: {kind: "slo.*", criticality: low}, impact: high}
            - {match: {labels: {team: payments, env: prod}}, urgency: low}
            - {match: {kind: slo.ticket}, impact: low, urgency: high}
            - {match: {kind: slo.ticket}, urgency: low}
        """)
    # report is low: the first rule sets the impact, the third the urgency.
    judged = assess(trigger("slo.ticket", "report"), rules)
    assert (judged.impact, judged.urgency, judged.severity) == (
        Impact.HIGH, Urgency.HIGH, Severity.SEV1,
    )  # fmt: skip
    # Labels must all match exactly.
    labelled = trigger("slo.page", "order", labels={"team": "payments", "env": "prod"})
    assert assess(labelled, rules).urgency is Urgency.LOW
    partly = trigger("slo.page", "order", labels={"team": "payments", "env": "dev"})
    assert assess(partly, rules).urgency is Urgency.HIGH
    # No rule matches: the defaults.
    assert assess(trigger("circuit.opened", "refund"), rules).severity is Severity.SEV2


def test_a_configured_matrix() -> None:
    strict = ownership("""\
        severity:
          matrix:
            high: {high: SEV1, medium: SEV1, low: SEV2}
            medium: {high: SEV2, medium: SEV2, low: SEV3}
            low: {high: SEV3, medium: SEV3, low: SEV4}
        """)
    assert assess(trigger("slo.ticket", "order"), strict).severity is Severity.SEV2
    assert SeverityMatrix().severity(Impact.LOW, Urgency.HIGH) is Severity.SEV3
