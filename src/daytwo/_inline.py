"""Inline runs (``App.run``): an instance executed in the calling process.

An inline run is durable like any other: its row is inserted at its first durable point
(already in its first state), it holds a lease that a keeper thread renews while a long
step runs, and if the process dies a worker takes the instance over when the lease
expires. Waits are slept through with the app's clock (timers, retries) or polled for
(signals, human tasks), claiming the instance back by id when it is due; a deadline
(``timeout=``) that passes meanwhile is met here too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from daytwo._client import outcome
from daytwo._errors import WorkflowFailed
from daytwo._records import Instance
from daytwo._starts import check_same_start
from daytwo.engine import RunResult, StepLoop, WorkflowDefinition, execute
from daytwo.store import (
    DEADLINE_STATUSES,
    TERMINAL_STATUSES,
    DirectWriter,
    InstanceDeadlines,
    InstanceStatus,
)

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["INLINE_LEASE_SECONDS", "InlineRuns"]

log = logging.getLogger("daytwo.app")

#: Lease of an inline run (``App.run``); long enough for ordinary steps.
INLINE_LEASE_SECONDS = 300.0


def _deadline_due(row: Mapping[str, Any], now: float) -> bool:
    """Whether the instance's deadline has passed and is still to be met."""
    deadline = row["deadline_at"]
    return bool(
        deadline is not None
        and deadline <= now
        and row["cancel_reason"] is None
        and row["error"] is None
        and row["status"] in DEADLINE_STATUSES
    )


class InlineRuns:
    """The inline runs of one App: one lease owner, one keeper thread for all of them."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._leases: set[str] = set()
        self._lock = threading.Lock()
        self._keeper: threading.Thread | None = None
        # The lease owner of this App's inline runs; the lease token fences each run.
        self.owner = f"inline-{uuid.uuid4().hex[:12]}"
        #: Where the async steps of inline runs execute (started at the first one).
        self.step_loop = StepLoop(name="daytwo-inline-async-steps")

    def run(
        self,
        definition: WorkflowDefinition,
        row: dict[str, Any],
        *,
        version: str | None,
        timeout: float | None,
    ) -> Any:
        """Insert ``row`` (a new instance's) at its first durable point and run it here
        until it ends; its result, or :class:`WorkflowFailed`."""
        app = self.app
        instance_id = row["id"]
        deadline = None if timeout is None else time.monotonic() + timeout
        writer = DirectWriter(app.store)
        row.update(
            # Plain text: the run binds this value at each of its durable points (see
            # engine._durable.RUNNING).
            status=str(InstanceStatus.RUNNING),
            lease_owner=self.owner,
            lease_token=1,
            run_at=row["created_at"] + INLINE_LEASE_SECONDS,
        )
        # The row is inserted at the run's first durable point; if the id exists already,
        # that insert does nothing and we wait for (or help) the existing instance below.
        first = self._execute(row, writer, insert=True)
        if first.kind == "lost":  # the id exists: the same start, or a conflict
            existing = app.store.get_instance(instance_id)
            assert existing is not None
            check_same_start(app.serializer, existing, row, version)
        elif first.kind == "finished":
            app.events.run_finished(instance_id, True)
            return self._result_of(instance_id, first)
        pairs = [(definition.name, definition.version)]
        while True:
            current = app.store.get_instance(instance_id)
            assert current is not None
            if current["status"] in TERMINAL_STATUSES:
                app.events.run_finished(instance_id, True)
                # The same decoding as the new instance's path (_result_of): the app's
                # serializer, for an instance that this call did not run to its end.
                return outcome(Instance.from_row(current, loads=app.serializer.loads))
            now = app.clock.now()
            if _deadline_due(current, now):
                # No worker may run here: this call meets its instance's deadline itself
                # (once, whoever else tries: store/_deadlines.py), then runs the failure.
                InstanceDeadlines(app.store).meet(instance_id, now)
                continue
            if current["run_at"] is not None and current["run_at"] <= now:
                claimed = app.store.claim(
                    self.owner, pairs, now=now, lease_seconds=INLINE_LEASE_SECONDS,
                    limit=1, instance_id=instance_id,
                )  # fmt: skip
                for claimed_row in claimed:
                    self._execute(claimed_row, writer)
                continue
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"instance {instance_id!r} did not finish within {timeout} s; it goes on "
                    "durably (see `daytwo status`)"
                )
            if current["run_at"] is not None and current["status"] != InstanceStatus.RUNNING:
                until = min(current["run_at"], current["deadline_at"] or current["run_at"])
                app.clock.sleep(min(until - now, 0.5))
            else:
                time.sleep(0.02)

    def _execute(
        self, row: Mapping[str, Any], writer: DirectWriter, *, insert: bool = False
    ) -> RunResult:
        """Execute an inline run, renewing its lease meanwhile so that a long step keeps it."""
        instance_id = row["id"]
        with self._lock:
            self._leases.add(instance_id)
            if self._keeper is None:
                self._keeper = threading.Thread(
                    target=self._renew, name="daytwo-inline-lease", daemon=True
                )
                self._keeper.start()
        try:
            # A new row has no history to load; a claimed one loads its own.
            history: list[dict[str, Any]] | None = [] if insert else None
            return execute(
                self.app.runtime, writer, row, history=history, insert=insert,
                step_loop=self.step_loop,
            )  # fmt: skip
        finally:
            with self._lock:
                self._leases.discard(instance_id)

    def _renew(self) -> None:
        while True:
            time.sleep(INLINE_LEASE_SECONDS / 4)
            with self._lock:
                leases = list(self._leases)
            if not leases:
                continue
            try:
                expiry = self.app.clock.now() + INLINE_LEASE_SECONDS
                self.app.store.renew_leases(self.owner, leases, expiry)
            except Exception:  # the runs themselves will notice a real database problem
                log.warning("could not renew the leases of inline runs %s", leases, exc_info=True)

    def _result_of(self, instance_id: str, result: RunResult) -> Any:
        if result.status == InstanceStatus.SUCCEEDED:
            return None if result.output is None else self.app.serializer.loads(result.output)
        error = None if result.error is None else json.loads(result.error)
        raise WorkflowFailed.of(instance_id, InstanceStatus(result.status), error)
