"""The sub-APIs of a :class:`RemoteClient` over HTTP: tasks, flow control, breakers,
schedules, the audit log.

Each subclasses the local one (so ``isinstance`` and the type checker see the same API) and
replaces the methods the CLI calls with one request each to the route that runs the local
method on the server; the answers are parsed back into the same records (the same dicts
for flow control's listings). Who acts is the token's name, so ``by=`` is not sent: the
server sets it. A method not replaced would reach for the database and is refused
(:class:`NotOverHttp`).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from daytwo._audit import AuditEntry, AuditOutcome, AuditRecord, AuditTarget, AuditTrail
from daytwo._breakers import BreakerActions
from daytwo._handles import HumanTasks, InstanceHandle
from daytwo._instance_pages import MAX_PAGE
from daytwo._records import HumanTask, TaskStatus
from daytwo._schedules import ScheduleActions
from daytwo._task_records import TaskEvent
from daytwo.api.routes import AuditPage, DependencyStatus, PauseStatus, QueueStatus, Resumed
from daytwo.store import (
    BreakerPolicy,
    BreakerStatus,
    FlowControl,
    FlowSettings,
    QueueSettings,
    ScheduleView,
)

if TYPE_CHECKING:
    from daytwo.api._remote import RemoteClient

__all__ = [
    "RemoteAudit",
    "RemoteBreakers",
    "RemoteFlow",
    "RemoteSchedules",
    "RemoteTasks",
    "attach",
]


def _seg(text: str) -> str:
    """``text`` as one path segment (a name with a slash stays one segment)."""
    return quote(text, safe="")


class RemoteTasks(HumanTasks):
    """The human-task inbox over HTTP (``/v1/tasks``)."""

    def __init__(self, client: RemoteClient) -> None:
        super().__init__(client)
        self._remote = client

    def list(
        self, *, status: str | None = TaskStatus.OPEN, assignee: str | None = None, limit: int = 100
    ) -> builtins.list[HumanTask]:
        params = {
            "status": None if status is None else str(status),
            "all": True if status is None else None,
            "assignee": assignee,
            "limit": limit,
        }
        found: builtins.list[HumanTask] = self._remote.call(
            "GET", "/tasks", builtins.list[HumanTask], params=params
        )
        return found

    def get(self, task_id: str) -> HumanTask:
        found: HumanTask = self._remote.call("GET", f"/tasks/{_seg(task_id)}", HumanTask)
        return found

    def events(self, task_id: str) -> builtins.list[TaskEvent]:
        found: builtins.list[TaskEvent] = self._remote.call(
            "GET", f"/tasks/{_seg(task_id)}/events", builtins.list[TaskEvent]
        )
        return found

    def complete(
        self, task_id: str, result: Any = None, *, reason: str | None = None, by: str | None = None
    ) -> None:
        body = {"result": result, "reason": reason}
        self._remote.call("POST", f"/tasks/{_seg(task_id)}/complete", json=body)

    def reassign(
        self, task_id: str, assignee: str, *, reason: str | None = None, by: str | None = None
    ) -> None:
        body = {"assignee": assignee, "reason": reason}
        self._remote.call("POST", f"/tasks/{_seg(task_id)}/reassign", json=body)

    def cancel(self, task_id: str, *, reason: str | None = None, by: str | None = None) -> None:
        self._remote.call("POST", f"/tasks/{_seg(task_id)}/cancel", json={"reason": reason})


class RemoteFlow(FlowControl):
    """Flow control over HTTP: queues, pauses and dependency limits. The listings come
    back as the dicts :class:`FlowControl` returns (same keys, same order)."""

    def __init__(self, client: RemoteClient) -> None:  # no store: every call is a request
        self._remote = client

    def __getattr__(self, name: str) -> NoReturn:
        # Only reached for what __init__ did not set: the store, the settings cache, the
        # slots and breakers a worker uses, none of which exist over HTTP.
        if name.startswith("__"):
            raise AttributeError(name)
        self._remote.needs_database(
            "this part of client.flow" if name.startswith("_") else f"client.flow.{name}"
        )

    def settings(self, *, fresh: bool = False) -> FlowSettings:
        self._remote.needs_database("client.flow.settings() (the workers' snapshot)")

    def queue_status(self) -> builtins.list[dict[str, Any]]:
        rows = self._remote.call("GET", "/queues", builtins.list[QueueStatus])
        return [row.model_dump() for row in rows]

    def set_queue(
        self,
        name: str,
        *,
        concurrency: int | None = None,
        worker_concurrency: int | None = None,
        rate_limit: int | None = None,
        rate_period: float | None = None,
        force: bool = False,
        reason: str | None = None,
        by: str | None = None,
    ) -> QueueSettings:
        body = {
            "concurrency": concurrency, "worker_concurrency": worker_concurrency,
            "rate_limit": rate_limit, "rate_period": rate_period, "force": force,
            "reason": reason,
        }  # fmt: skip
        found: QueueSettings = self._remote.call(
            "PUT", f"/queues/{_seg(name)}", QueueSettings, json=body
        )
        return found

    def list_pauses(self) -> builtins.list[dict[str, Any]]:
        rows = self._remote.call("GET", "/pauses", builtins.list[PauseStatus])
        return [row.model_dump() for row in rows]

    def pause(
        self,
        workflow: str,
        step: str | None = None,
        *,
        reason: str | None,
        by: str | None,
        force: bool = False,
    ) -> None:
        body = {"step": step, "reason": reason, "force": force}
        self._remote.call("POST", f"/workflows/{_seg(workflow)}/pause", json=body)

    def resume(
        self,
        workflow: str,
        step: str | None = None,
        *,
        reason: str | None = None,
        by: str | None = None,
    ) -> int:
        body = {"step": step, "reason": reason}
        done: Resumed = self._remote.call(
            "POST", f"/workflows/{_seg(workflow)}/resume", Resumed, json=body
        )
        return done.released

    def dependency_status(self) -> builtins.list[dict[str, Any]]:
        rows = self._remote.call("GET", "/dependencies", builtins.list[DependencyStatus])
        return [row.model_dump() for row in rows]

    def set_dependency_limit(
        self,
        name: str,
        concurrency: int | None,
        *,
        force: bool = False,
        reason: str | None = None,
        by: str | None = None,
    ) -> None:
        body = {"concurrency": concurrency, "force": force, "reason": reason}
        self._remote.call("PUT", f"/dependencies/{_seg(name)}", json=body)


class RemoteBreakers(BreakerActions):
    """The circuit breakers over HTTP (``/v1/breakers``)."""

    def __init__(self, client: RemoteClient) -> None:
        super().__init__(lambda: client.flow, client.audit)
        self._remote = client

    def list(self) -> builtins.list[BreakerStatus]:
        found: builtins.list[BreakerStatus] = self._remote.call(
            "GET", "/breakers", builtins.list[BreakerStatus]
        )
        return found

    def get(self, name: str) -> BreakerStatus:
        found: BreakerStatus = self._remote.call("GET", f"/breakers/{_seg(name)}", BreakerStatus)
        return found

    def configure(
        self,
        name: str,
        policy: BreakerPolicy,
        *,
        reason: str | None = None,
        by: str | None = None,
        force: bool = False,
    ) -> BreakerStatus:
        body = {"policy": policy.to_dict(), "reason": reason, "force": force}
        found: BreakerStatus = self._remote.call(
            "PUT", f"/breakers/{_seg(name)}", BreakerStatus, json=body
        )
        return found

    def _act(self, verb: str, name: str, reason: str | None) -> BreakerStatus:
        found: BreakerStatus = self._remote.call(
            "POST", f"/breakers/{_seg(name)}/{verb}", BreakerStatus, json={"reason": reason}
        )
        return found

    def open(self, name: str, *, reason: str | None = None, by: str | None = None) -> BreakerStatus:
        return self._act("open", name, reason)

    def close(
        self, name: str, *, reason: str | None = None, by: str | None = None
    ) -> BreakerStatus:
        return self._act("close", name, reason)

    def reset(
        self, name: str, *, reason: str | None = None, by: str | None = None
    ) -> BreakerStatus:
        return self._act("reset", name, reason)


class RemoteSchedules(ScheduleActions):
    """The durable schedules over HTTP (``/v1/schedules``)."""

    def __init__(self, client: RemoteClient) -> None:
        super().__init__(client, lambda: client.store, client.clock.now, client.audit)
        self._remote = client

    def list(self) -> builtins.list[ScheduleView]:
        found: builtins.list[ScheduleView] = self._remote.call(
            "GET", "/schedules", builtins.list[ScheduleView]
        )
        return found

    def get(self, name: str) -> ScheduleView:
        found: ScheduleView = self._remote.call("GET", f"/schedules/{_seg(name)}", ScheduleView)
        return found

    def _act(self, verb: str, name: str, reason: str | None) -> ScheduleView:
        found: ScheduleView = self._remote.call(
            "POST", f"/schedules/{_seg(name)}/{verb}", ScheduleView, json={"reason": reason}
        )
        return found

    def pause(self, name: str, *, reason: str | None = None, by: str | None = None) -> ScheduleView:
        return self._act("pause", name, reason)

    def resume(
        self, name: str, *, reason: str | None = None, by: str | None = None
    ) -> ScheduleView:
        return self._act("resume", name, reason)

    def trigger(
        self,
        name: str,
        *,
        reason: str | None = None,
        by: str | None = None,
        key: str | None = None,
    ) -> InstanceHandle:
        found = self._remote.call(
            "POST", f"/schedules/{_seg(name)}/trigger", dict, json={"reason": reason, "key": key}
        )
        return InstanceHandle(self._remote, found["instance_id"], created=found["created"])


class RemoteAudit(AuditTrail):
    """The audit log over HTTP (``/v1/audit``, which needs an unscoped token)."""

    def __init__(self, client: RemoteClient) -> None:
        super().__init__(lambda: client.store, client.clock.now)
        self._remote = client

    def list(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        target_kind: AuditTarget | str | None = None,
        target: str | None = None,
        outcome: AuditOutcome | str | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditRecord]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        params: dict[str, Any] = {
            "action": action, "actor": actor, "target": target,
            "target_kind": None if target_kind is None else str(AuditTarget(target_kind)),
            "outcome": None if outcome is None else str(AuditOutcome(outcome)),
            "since": _seconds(since), "until": _seconds(until),
        }  # fmt: skip
        # The server pages at most MAX_PAGE rows at a time; a larger --limit follows the
        # keyset (before_id) until it has them all.
        records: builtins.list[AuditRecord] = []
        while True:
            wanted = min(limit - len(records), MAX_PAGE)
            page: AuditPage = self._remote.call(
                "GET", "/audit", AuditPage,
                params={**params, "before_id": before_id, "limit": wanted},
            )  # fmt: skip
            records += page.items
            if page.next is None or len(records) >= limit:
                return records
            before_id = page.next

    @contextmanager
    def refusals(self, entry: AuditEntry) -> Iterator[None]:
        """Nothing to record here: the server audits the refusals of the requests it
        refuses. A command that refuses its input before any request (``daytwo breaker
        set`` with a policy out of range) prints the same error, but no row is written."""
        yield


def _seconds(value: datetime | float | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return value
    return value.timestamp()


def attach(client: RemoteClient) -> None:
    """Give ``client`` its remote sub-APIs (``client.flow`` is a property of its own)."""
    client.audit = RemoteAudit(client)
    client.tasks = RemoteTasks(client)
    client.breakers = RemoteBreakers(client)
    client.schedules = RemoteSchedules(client)
