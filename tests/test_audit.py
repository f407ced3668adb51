"""The audit log: an operator action writes its row with the action, a refusal writes one on
its own, the actor is ``by``, else $DAYTWO_ACTOR, else the OS user; rows read newest first."""

from __future__ import annotations

import getpass

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import AuditOutcome, AuditTarget, OperatorAction
from daytwo.store import audit_log


def _waiting(app: daytwo.App, instance_id: str) -> None:
    if app.registry.find("waits", "1") is None:

        @app.workflow(name="waits")
        def waits(ctx: daytwo.Context) -> object:
            return ctx.wait_for_signal("go")

    app.start("waits", id=instance_id)


def test_a_cancel_is_audited_with_who_and_why(app: daytwo.App) -> None:
    _waiting(app, "order-1")
    app.cancel("order-1", "customer called", by="alice")
    [record] = app.client.audit.list()
    assert (record.actor, record.action, record.target_kind, record.target) == (
        "alice",
        OperatorAction.CANCEL,
        AuditTarget.INSTANCE,
        "order-1",
    )
    assert (record.reason, record.outcome, record.detail) == (
        "customer called",
        AuditOutcome.DONE,
        None,
    )
    assert record.to_dict()["action"] == "instance.cancel"


def test_a_refused_cancel_is_audited_as_refused_and_changes_nothing(app: daytwo.App) -> None:
    _waiting(app, "order-1")
    app.cancel("order-1", by="alice")
    with pytest.raises(daytwo.InstanceNotFound):
        app.cancel("nope", by="bob")
    [refused, done] = app.client.audit.list()
    assert (refused.outcome, refused.target, refused.actor) == (
        AuditOutcome.REFUSED,
        "nope",
        "bob",
    )
    assert "nope" in (refused.detail or "")
    assert done.outcome is AuditOutcome.DONE
    assert app.client.audit.list(outcome="refused") == [refused]


def test_the_actor_comes_from_the_environment_then_the_os_user(
    app: daytwo.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAYTWO_ACTOR", "runbook:payments-outage")
    assert daytwo.resolve_actor() == "runbook:payments-outage"
    assert daytwo.resolve_actor("carol") == "carol"
    monkeypatch.delenv("DAYTWO_ACTOR")
    assert daytwo.resolve_actor() == getpass.getuser()


def test_audit_rows_filter_and_page_newest_first(app: daytwo.App) -> None:
    for n in range(5):
        _waiting(app, f"order-{n}")
        app.cancel(f"order-{n}", by="alice" if n % 2 else "bob")
    newest = app.client.audit.list(limit=2)
    assert [r.target for r in newest] == ["order-4", "order-3"]
    older = app.client.audit.list(limit=2, before_id=newest[-1].id)
    assert [r.target for r in older] == ["order-2", "order-1"]
    assert {r.target for r in app.client.audit.list(actor="alice")} == {"order-1", "order-3"}
    assert len(app.client.audit.list(action="instance")) == 5
    assert app.client.audit.list(action="task") == []
    assert [r.target for r in app.client.audit.list(target="order-2")] == ["order-2"]
    with pytest.raises(ValueError, match="limit"):
        app.client.audit.list(limit=0)


def test_the_audit_row_commits_with_the_action(app: daytwo.App) -> None:
    """A cancel of an ended instance writes no done row, only its refusal: the done row is
    in the action's transaction, so the two commit or roll back together."""

    @app.workflow(name="quick")
    def quick(ctx: daytwo.Context) -> int:
        return 1

    app.run(quick, id="order-1")
    with pytest.raises(daytwo.NotRunnable):
        app.cancel("order-1")
    with app.client.store.read() as conn:
        outcomes = [row.outcome for row in conn.execute(sa.select(audit_log.c.outcome))]
    assert outcomes == ["refused"]


def test_flow_control_changes_are_audited_and_refusals_too(app: daytwo.App) -> None:
    @app.step(dependency="payments-api")
    def charge() -> int:
        return 1

    @app.workflow(name="order", queue="orders")
    def order(ctx: daytwo.Context) -> int:
        return charge()

    flow = app.flow
    flow.set_queue("orders", concurrency=5, reason="protect the PSP", by="ann")
    flow.pause("order", reason="payments outage", by="ann")
    flow.pause("order", "charge", reason="PSP down", by="ann")
    assert flow.resume("order", "charge", reason="PSP back", by="ann") == 0
    flow.set_dependency_limit("payments-api", 3, by="ann")
    flow.set_dependency_limit("payments-api", None, by="ann")
    with pytest.raises(daytwo.InvalidInput):
        flow.resume("order", "charge", by="ann")  # not paused any more
    with pytest.raises(daytwo.InvalidInput):
        flow.set_queue("orders", concurrency=0, by="ann")
    records = list(reversed(app.client.audit.list()))
    assert [(r.action, r.target, r.outcome) for r in records] == [
        (OperatorAction.QUEUE_SET, "orders", AuditOutcome.DONE),
        (OperatorAction.PAUSE, "order", AuditOutcome.DONE),
        (OperatorAction.PAUSE, "order", AuditOutcome.DONE),
        (OperatorAction.UNPAUSE, "order", AuditOutcome.DONE),
        (OperatorAction.DEPENDENCY_SET, "payments-api", AuditOutcome.DONE),
        (OperatorAction.DEPENDENCY_SET, "payments-api", AuditOutcome.DONE),
        (OperatorAction.UNPAUSE, "order", AuditOutcome.REFUSED),
        (OperatorAction.QUEUE_SET, "orders", AuditOutcome.REFUSED),
    ]
    assert records[0].params == {"concurrency": 5} and records[0].reason == "protect the PSP"
    assert records[2].params == {"step": "charge"}
    assert records[3].count == 0 and records[3].reason == "PSP back"
    assert records[5].params is None  # the limit removed
    assert "not paused" in (records[6].detail or "")
    assert {r.actor for r in records} == {"ann"}
