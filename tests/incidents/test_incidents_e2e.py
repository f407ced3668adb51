"""End to end on the injected clock: an SLO burn opens a SEV2 incident for the workflow's
owner, later evaluations append to it, the alerts resolve, the incident resolves, and
MTTA and MTTR are right to the second."""

from __future__ import annotations

from pathlib import Path

from _receivers import free_port, smtp_server
from _shop import quietly

import daytwo
from daytwo import slo
from daytwo.incidents import (
    Incidents,
    IncidentsExtension,
    IncidentStatus,
    Severity,
    Source,
    TimelineKind,
)
from daytwo.incidents._channels import SmtpSettings
from daytwo.incidents._ownership import load_ownership
from daytwo.incidents._registry import apply

OBJECTIVE = slo.Objective(
    name="order-success", workflow="order", objective=0.99, window="30d", sli=slo.Success()
)

OWNERSHIP = """\
people:
  ann: {name: Ann Lee, channels: [{kind: email, address: ann@example.com}]}
teams:
  order-it: {members: [ann]}
workflows:
  order: {criticality: high, business_owner: ann, it_team: order-it}
"""


def _order_app(app: daytwo.App) -> None:
    @app.workflow(name="order")
    def order(ctx: daytwo.Context, fail: bool) -> str:
        if fail:
            raise ValueError("payment declined")
        return "ok"


def _run(app: daytwo.App, good: int, bad: int = 0) -> None:
    for n in range(good + bad):
        quietly(app, "order", n < bad, timeout=0)


def test_an_slo_burn_becomes_an_incident_that_resolves_with_its_alerts(
    fake_app: daytwo.App, clock: daytwo.FakeClock, tmp_path: Path
) -> None:
    port = free_port()
    with smtp_server(port) as mailbox:
        _burn_and_recover(fake_app, clock, tmp_path, SmtpSettings("127.0.0.1", port, "daytwo@x"))
    # The owner (also the team's one member) was told by e-mail of each step, once.
    subjects = [m["Subject"] for m in mailbox.to("ann@example.com")]
    assert [s.split(": ")[0] for s in subjects] == [
        "[SEV2] #1 opened", "[SEV2] #1 triggered again", "[SEV2] #1 acknowledged",
        "[SEV2] #1 resolved",
    ]  # fmt: skip


def _burn_and_recover(
    fake_app: daytwo.App, clock: daytwo.FakeClock, tmp_path: Path, smtp: SmtpSettings
) -> None:
    _order_app(fake_app)
    extension = fake_app.use(IncidentsExtension(smtp=smtp))
    assert isinstance(extension, IncidentsExtension)
    apply_ownership(fake_app, tmp_path)
    extension.register()
    incidents = Incidents.for_app(fake_app)
    evaluator = slo.Evaluator.for_app(fake_app, [OBJECTIVE])

    _run(fake_app, good=10, bad=10)
    opened_at = clock.now()
    evaluator.evaluate()  # the page and the ticket rules fire at once
    extension.run_once()
    [incident] = incidents.list()
    assert (incident.severity, incident.source, incident.workflow) == (
        Severity.SEV2, Source.SLO, "order",
    )  # fmt: skip
    assert incident.assignee == "order-it" and incident.opened_at == opened_at
    assert incident.dedup_key == "slo/order-success" and incident.firing == 2
    # The owner is told: the IT team is responsible, the business owner accountable.
    told = {(r.name, str(r.role)) for r in extension.recipients(incident)}
    assert told == {("order-it", "R"), ("ann", "A")}
    for _ in range(3):  # evaluations that change nothing open nothing
        clock.advance(60)
        evaluator.evaluate()
        extension.run_once()
    incidents.acknowledge(incident.id, by="ann")  # 180 s after it opened

    clock.advance(2400)  # forty good minutes: the pages' 5- and 30-minute windows are clean
    _run(fake_app, good=20)
    evaluator.evaluate()
    extension.run_once()
    now_open = incidents.get(incident.id)
    assert now_open.status is IncidentStatus.ACKNOWLEDGED and now_open.firing == 1

    clock.advance(7 * 3600)  # the tickets' 2- and 6-hour windows are clean too
    _run(fake_app, good=20)
    resolved_at = clock.now()
    evaluator.evaluate()
    extension.run_once()
    done = incidents.get(incident.id)
    assert done.status is IncidentStatus.RESOLVED and done.resolved_by == "slo"
    assert done.time_to_acknowledge == 180
    assert done.time_to_resolve == resolved_at - opened_at == 180 + 2400 + 7 * 3600
    assert len(incidents.list()) == 1
    kinds = [e.kind for e in incidents.timeline(incident.id) if e.kind != TimelineKind.NOTIFIED]
    assert kinds == [
        TimelineKind.OPENED, TimelineKind.TRIGGERED, TimelineKind.ACKNOWLEDGED,
        TimelineKind.ALERT_RESOLVED, TimelineKind.ALERT_RESOLVED, TimelineKind.RESOLVED,
    ]  # fmt: skip


def apply_ownership(app: daytwo.App, tmp_path: Path) -> None:
    """Apply the test's ownership.yaml to the app's database (as ``daytwo owners apply``)."""
    file = tmp_path / "ownership.yaml"
    file.write_text(OWNERSHIP)
    apply(app.store, load_ownership(file), source=str(file), by="ann", now=app.clock.now())
