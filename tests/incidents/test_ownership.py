"""ownership.yaml: validation with file:line: field errors, RACI per severity, who is told,
versions in the store (one per content, audited) and the assessor that uses them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import daytwo
from daytwo._located_yaml import DefinitionError
from daytwo.incidents import RaciRole, Severity, Source, Trigger, TriggerAction
from daytwo.incidents._contacts import Channel
from daytwo.incidents._ownership import Ownership, load_ownership, parse_ownership
from daytwo.incidents._registry import OwnershipAssessor, apply, history, latest
from daytwo.incidents._vocabulary import ChannelKind, Criticality

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ownership.yaml"

GOOD = """\
people:
  ann: {name: Ann Lee, channels: [{kind: email, address: ann@example.com},
                                  {kind: slack, address: "${ANN_SLACK_HOOK}"}]}
  bob: {channels: [{kind: email, address: bob@example.com}]}
  carl: {channels: [{kind: webhook, address: "http://127.0.0.1:9000/carl"}]}
teams:
  payments-it:
    members: [ann, bob]
    channels: [{kind: webhook, address: "http://127.0.0.1:9000/hook"},
               {kind: pagerduty, routing_key: "${PD_KEY}"}]
  finance: {members: [bob, carl]}
vendors:
  stripe: {contact: support@stripe.example, sla: "99.99% monthly", status_url: "https://status.stripe.com"}
workflows:
  order:
    criticality: critical
    business_owner: ann
    it_team: payments-it
    vendor: stripe
    consulted: [carl]
    informed: [finance]
    escalation_policy: payments-default
    runbooks: ["https://wiki/runbooks/order", "stuck-instances"]
    raci:
      SEV1: {R: [payments-it, carl], I: [finance, bob]}
  refund: {criticality: high, business_owner: ann, it_team: payments-it}
  report: {criticality: low}
dependencies:
  payments-api: {criticality: critical, it_team: payments-it, vendor: stripe, business_owner: bob}
"""


def parse(text: str) -> Ownership:
    return parse_ownership(textwrap.dedent(text), "own.yaml")


def error_of(text: str) -> str:
    with pytest.raises(DefinitionError) as caught:
        parse(text)
    return str(caught.value)


def test_the_example_file_is_valid() -> None:
    ownership = load_ownership(EXAMPLE)
    assert ownership.criticality_of("order") is Criticality.CRITICAL
    assert ownership.criticality_of(dependency="payments-api") is Criticality.CRITICAL
    assert ownership.unowned(["order"]) == []


def test_a_good_file_and_its_channels() -> None:
    ownership = parse(GOOD)
    assert ownership.criticality_of("refund") is Criticality.HIGH
    assert ownership.criticality_of("report") is Criticality.LOW
    assert ownership.criticality_of("nope") is None
    # The dependency's entry goes first when a trigger names both.
    assert ownership.entry_for("order", "payments-api") is ownership.dependencies["payments-api"]
    assert ownership.entry_for("order", "other") is ownership.workflows["order"]
    team = ownership.channels_of("payments-it")
    assert team == (
        Channel(ChannelKind.WEBHOOK, "http://127.0.0.1:9000/hook"),
        Channel(ChannelKind.PAGERDUTY, "https://events.pagerduty.com/v2/enqueue", "${PD_KEY}"),
    )
    # ${ENV} references are kept as written, in the channels and in the stored spec.
    assert ownership.channels_of("ann")[1].address == "${ANN_SLACK_HOOK}"
    assert "${PD_KEY}" in str(ownership.spec())
    # A team without channels is reached through its members.
    assert [c.address for c in ownership.channels_of("finance")] == [
        "bob@example.com", "http://127.0.0.1:9000/carl",
    ]  # fmt: skip


def test_spec_round_trip_and_digest() -> None:
    ownership = parse(GOOD)
    again = Ownership.from_spec(ownership.spec())
    assert again.spec() == ownership.spec() and again.digest() == ownership.digest()
    # Written differently (flow style, comments), the same definition has the same digest.
    reformatted = GOOD.replace("  refund: {criticality: high, business_owner: ann, it_team: "
                               "payments-it}",
                               "  refund:  # the refund process\n    criticality: high\n"
                               "    business_owner: ann\n    it_team: payments-it")  # fmt: skip
    assert reformatted != GOOD and parse(reformatted).digest() == ownership.digest()
    assert parse(GOOD.replace("criticality: low", "criticality: medium")).digest() != (
        ownership.digest()
    )


def test_raci_default_and_override() -> None:
    ownership = parse(GOOD)
    order = ownership.workflows["order"]
    R, A, C, I = RaciRole  # noqa: E741
    assert ownership.raci(order, Severity.SEV2) == {
        R: ["payments-it"], A: ["ann"], C: ["stripe", "carl"], I: ["finance"],
    }  # fmt: skip
    # SEV1 overrides R and I; A and C keep their defaults.
    assert ownership.raci(order, Severity.SEV1) == {
        R: ["payments-it", "carl"], A: ["ann"], C: ["stripe", "carl"], I: ["finance", "bob"],
    }  # fmt: skip
    report = ownership.workflows["report"]
    assert ownership.raci(report, Severity.SEV1) == {R: [], A: [], C: [], I: []}
    assert ownership.unowned(["order", "report", "unknown", "refund"]) == ["report", "unknown"]


def test_recipients_follow_the_raci_strongest_role_once() -> None:
    ownership = parse(GOOD)
    sev2 = ownership.recipients("order", None, Severity.SEV2)
    assert [(r.name, r.role) for r in sev2] == [
        ("payments-it", RaciRole.RESPONSIBLE),
        ("ann", RaciRole.ACCOUNTABLE),
        ("finance", RaciRole.INFORMED),
    ]  # fmt: skip  -- the consulted (stripe, carl) are not notified
    assert sev2[2].channels == ownership.channels_of("finance")
    sev1 = ownership.recipients("order", None, Severity.SEV1)
    # carl is R at SEV1 (and C): told once, as R; bob is I.
    assert [(r.name, r.role) for r in sev1] == [
        ("payments-it", RaciRole.RESPONSIBLE), ("carl", RaciRole.RESPONSIBLE),
        ("ann", RaciRole.ACCOUNTABLE), ("finance", RaciRole.INFORMED), ("bob", RaciRole.INFORMED),
    ]  # fmt: skip
    assert ownership.recipients("unknown", None, Severity.SEV1) == []
    on_dependency = ownership.recipients("order", "payments-api", Severity.SEV3)
    assert [r.name for r in on_dependency] == ["payments-it", "bob"]


BAD_FILES = [
    ("workflows:\n  order: {it_team: [x}\n", "own.yaml:2: not valid YAML: "),
    ("", "own.yaml:1: the file is empty; give at least workflows: with their owners"),
    ("- a\n", "own.yaml:1: expected a mapping with people:, teams:, vendors:, workflows: ..."),
    (
        "workflows:\n  order:\n    owner: ann\n",
        "own.yaml:3: workflows.order.owner: Extra inputs are not permitted",
    ),
    (
        "workflows:\n  order:\n    criticality: huge\n",
        "own.yaml:3: workflows.order.criticality: Input should be 'critical', 'high', 'medium' "
        "or 'low'",
    ),
    (
        "teams: {it: {}}\nworkflows:\n  order:\n    it_team: it\n    business_owner: zed\n",
        "own.yaml:5: workflows.order.business_owner: 'zed' is not a known person or team "
        "(known: it); define it or fix the name",
    ),
    (
        "people: {ann: {}}\nworkflows:\n  order:\n    it_team: ann\n",
        "own.yaml:4: workflows.order.it_team: 'ann' is not a known team; none is defined (add it "
        "to the file)",
    ),
    (
        "dependencies:\n  pay:\n    vendor: strip\nvendors: {stripe: {}}\n",
        "own.yaml:3: dependencies.pay.vendor: 'strip' is not a known vendor (known: stripe); "
        "define it or fix the name",
    ),
    (
        "people: {ann: {}}\nworkflows:\n  order:\n    informed:\n      - ann\n      - bobb\n",
        "own.yaml:6: workflows.order.informed[1]: 'bobb' is not a known person, team or vendor "
        "(known: ann); define it or fix the name",
    ),
    (
        "people: {ann: {}}\nworkflows:\n  order:\n    raci:\n      SEV2: {R: [ann], C: [x]}\n",
        "own.yaml:5: workflows.order.raci.SEV2.C[0]: 'x' is not a known person, team or vendor "
        "(known: ann); define it or fix the name",
    ),
    (
        "workflows:\n  order:\n    raci:\n      SEV5: {R: []}\n",
        "own.yaml:4: workflows.order.raci.SEV5: Input should be 'SEV1', 'SEV2', 'SEV3' or 'SEV4'",
    ),
    (
        "people: {ann: {}}\nteams:\n  it:\n    members: [ann, bob]\n",
        "own.yaml:4: teams.it.members[1]: 'bob' is not a known person (known: ann); define it or "
        "fix the name",
    ),
    (
        "people: {ann: {}}\nteams: {ann: {}}\n",
        "own.yaml:2: teams.ann: 'ann' is defined under people and teams; a name means one person, "
        "team or vendor, so rename one of them",
    ),
    (
        "people:\n  ann:\n    channels:\n      - {kind: sms, address: '123'}\n",
        "own.yaml:4: people.ann.channels[0].kind: Input should be 'webhook', 'slack', 'email' or "
        "'pagerduty'",
    ),
    (
        "people:\n  ann:\n    channels:\n      - kind: slack\n"
        "        address: hooks.slack.com/T/x\n",
        "own.yaml:5: people.ann.channels[0].address: a slack channel's address must be an http:// "
        "or https:// URL (or an environment reference such as ${SLACK_HOOK})",
    ),
    (
        "teams:\n  it:\n    channels:\n      - {kind: webhook, address: 'ftp://host/x'}\n",
        "own.yaml:4: teams.it.channels[0].address: a webhook channel's address must be an http:// "
        "or https:// URL (or an environment reference such as ${SLACK_HOOK})",
    ),
    (
        "people:\n  ann:\n    channels:\n      - {kind: email, address: ann.example.com}\n",
        "own.yaml:4: people.ann.channels[0].address: an email channel needs an address like "
        "ann@example.com",
    ),
    (
        "people:\n  ann:\n    channels:\n      - {kind: email}\n",
        "own.yaml:4: people.ann.channels[0].address: a email channel needs an address",
    ),
    (
        "teams:\n  it:\n    channels:\n      - kind: pagerduty\n",
        "own.yaml:4: teams.it.channels[0].routing_key: a pagerduty channel needs routing_key: the "
        "integration key, written as an environment reference such as ${PD_ROUTING_KEY}",
    ),
    (
        "people:\n  ann:\n    channels:\n      - {kind: email, address: a@b.c, routing_key: k}\n",
        "own.yaml:4: people.ann.channels[0].routing_key: only a pagerduty channel has a "
        "routing_key, not email",
    ),
    (
        "severity:\n  matrix:\n    high: {high: SEV1, medium: SEV2, low: SEV3}\n"
        "    medium: {high: SEV2, medium: SEV3}\n    low: {high: SEV3, medium: SEV4, low: SEV4}\n",
        "own.yaml:4: severity.matrix.medium: urgency low missing; each impact row needs high, "
        "medium and low urgency",
    ),
    (
        "severity:\n  matrix:\n    high: {high: SEV1, medium: SEV2, low: SEV3}\n",
        "own.yaml:2: severity.matrix: impact medium is missing; the matrix needs a row for each of "
        "high, medium and low, each with high, medium and low urgency",
    ),
    (
        "severity:\n  matrix:\n    huge: {high: SEV1}\n",
        "own.yaml:3: severity.matrix.huge: Input should be 'high', 'medium' or 'low'",
    ),
    (
        "severity:\n  rules:\n    - {match: {kind: slo.page}, impact: high}\n"
        "    - {match: {kind: slo.ticket}}\n",
        "own.yaml:4: severity.rules[1]: a rule needs impact:, urgency: or both",
    ),
    (
        "severity:\n  rules:\n    - {match: {kind: slo.page, severity: SEV1}, impact: high}\n",
        "own.yaml:3: severity.rules[0].match.severity: Extra inputs are not permitted",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
def test_every_kind_of_bad_file_is_refused_at_its_line(text: str, expected: str) -> None:
    message = error_of(text)
    if expected.endswith(": "):
        assert message.startswith(expected), message
    else:
        assert message == expected


def test_a_secret_is_never_repeated_in_an_error() -> None:
    text = "people:\n  ann:\n    channels:\n      - {kind: slack, address: 'hooks/T0/B0/s3cret'}\n"
    assert "s3cret" not in error_of(text)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(daytwo.InvalidInput, match="cannot read ownership file"):
        load_ownership(tmp_path / "missing.yaml")


# -- versions in the store ---------------------------------------------------------------


def test_same_content_twice_is_one_version_and_each_new_one_is_audited(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    store = fake_app.store
    assert latest(store) is None
    first = parse(GOOD)
    assert apply(store, first, source="own.yaml", by="ann", now=clock.now()) == (1, True)
    clock.advance(10)
    assert apply(store, parse(GOOD), source="own.yaml", by="bob", now=clock.now()) == (1, False)
    changed = parse(GOOD.replace("criticality: low", "criticality: medium"))
    assert apply(store, changed, source="other.yaml", by="bob", now=clock.now()) == (2, True)
    found = latest(store)
    assert found is not None and found[0] == 2 and found[1].digest() == changed.digest()
    assert [(v.version, v.source, v.created_by) for v in history(store)] == [
        (1, "own.yaml", "ann"), (2, "other.yaml", "bob"),
    ]  # fmt: skip
    audit = fake_app.client.audit.list(action="ownership.apply")
    assert [(r.target, r.actor, (r.params or {})["digest"]) for r in reversed(audit)] == [
        ("1", "ann", first.digest()), ("2", "bob", changed.digest()),
    ]  # fmt: skip
    # Going back to version 1's content is a new version (what was in force when stays).
    assert apply(store, parse(GOOD), source="own.yaml", by="ann", now=clock.now()) == (3, True)
    back = latest(store)
    assert back is not None and back[0] == 3 and back[1].digest() == first.digest()


def trigger(kind: str = "slo.page", workflow: str | None = "order", **extra: object) -> Trigger:
    return Trigger(
        source=Source.SLO, dedup_key=f"k/{kind}", action=TriggerAction.TRIGGER,
        summary="burning", kind=kind, workflow=workflow, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_assessor_uses_the_version_in_force(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    store = fake_app.store
    assessor = OwnershipAssessor(store)
    # Nothing applied: the default (the hint, else SEV3), nobody assigned.
    assert assessor.assess(trigger()).severity is Severity.SEV3
    assert assessor.assess(trigger()).ownership_version is None
    apply(store, parse(GOOD), source="own.yaml", by="ann", now=clock.now())
    judged = assessor.assess(trigger())
    assert (judged.severity, judged.assignee, judged.ownership_version) == (
        Severity.SEV1, "payments-it", 1,
    )  # fmt: skip
    # No entry for the workflow: the default, under the version in force.
    other = assessor.assess(trigger(workflow="unknown", severity_hint=Severity.SEV2))
    assert (other.severity, other.assignee, other.ownership_version) == (Severity.SEV2, None, 1)
    # A newer version is seen at once.
    demoted = GOOD.replace("    criticality: critical\n    business_owner: ann",
                           "    criticality: high\n    business_owner: ann")  # fmt: skip
    apply(store, parse(demoted), source="own.yaml", by="ann", now=clock.now())
    again = assessor.assess(trigger())
    assert (again.severity, again.ownership_version) == (Severity.SEV2, 2)
