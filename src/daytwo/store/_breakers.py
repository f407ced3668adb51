"""Circuit breakers per dependency, shared by every worker of the cluster.

A breaker is a row of ``breakers`` (its state and policy), the window of recorded calls
of a closed one (``breaker_calls``) and the probe permits of a half-open one
(``breaker_probes``). Workers read the states through :meth:`Breakers.snapshot` (cached
for a second, dropped at once after a change this process made or, on PostgreSQL, that
any process announced): a step of a dependency whose breaker is closed goes on without a
query; when the snapshot says anything else, :meth:`Breakers.admit` decides in the store.
Each call's outcome is recorded by :meth:`Breakers.record` in a small transaction of its
own; only steps whose dependency has a breaker pay it.

Every transition writes an outbox event as the last statement of its transaction (see
``_outbox.py``) and announces a settings change; a transition to a state that lets calls
through makes the instances waiting at the circuit runnable at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daytwo.store._audit import AuditEntry, append_audit
from daytwo.store._breaker_policy import BreakerPolicy, WindowCounts, verdict
from daytwo.store._breaker_records import Admission, BreakerView, circuit_state
from daytwo.store._breaker_window import counted, prune, window_rows
from daytwo.store._operator_schema import breaker_calls, breaker_probes, breakers
from daytwo.store._outbox import EventKind, append_event
from daytwo.store._schema import TIMED, instances
from daytwo.store._slots import _holds_lease
from daytwo.store._store import Store
from daytwo.store._vocabulary import BreakerState, CallOutcome, InstanceStatus, WaitKind

__all__ = ["Breakers"]

#: How long a process trusts its snapshot of the breakers' states (seconds).
SNAPSHOT_TTL = 1.0
#: How long an instance held back by a half-open (or forced-open) circuit waits at most,
#: in multiples of ``open_for``: a close wakes it at once; this is the backstop that lets
#: it take a probe if the instances probing now are gone.
HELD_BACK_FACTOR = 10.0
#: Set in a connection's info by a transition (see :meth:`Breakers.writing`).
_CHANGED = "daytwo_breaker_changed"


class Breakers:
    """The breakers' states, admissions and recorded calls (used by running instances)."""

    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self.store = store
        self._now = now
        self._lock = threading.Lock()
        self._cached: dict[str, BreakerView] | None = None
        self._read_at = 0.0
        self._insert = postgresql.insert if store.dialect == "postgresql" else sqlite.insert

    # -- reading --------------------------------------------------------------------------

    def snapshot(self, *, fresh: bool = False) -> dict[str, BreakerView]:
        """Every stored breaker by name, at most :data:`SNAPSHOT_TTL` old unless ``fresh``."""
        with self._lock:
            recent = time.monotonic() - self._read_at < SNAPSHOT_TTL
            if not fresh and self._cached is not None and recent:
                return self._cached
            with self.store.read() as conn:
                rows = conn.execute(sa.select(breakers)).mappings().all()
            self._cached = {row["name"]: BreakerView.from_row(row) for row in rows}
            self._read_at = time.monotonic()
            return self._cached

    def invalidate(self) -> None:
        """Forget the snapshot (a change was made or announced)."""
        with self._lock:
            self._cached = None

    def window(
        self, conn: sa.Connection, name: str, policy: BreakerPolicy, now: float
    ) -> WindowCounts:
        """The calls in ``name``'s window now (see :func:`~._breaker_policy.count_window`)."""
        return counted(window_rows(conn, name, policy, now))

    @contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A write transaction; the snapshot is dropped once a transition in it committed
        (dropped before the commit, another thread could cache the old state again)."""
        with self.store.write() as conn:
            conn.info.pop(_CHANGED, None)
            yield conn
            changed = conn.info.pop(_CHANGED, False)
        if changed:
            self.invalidate()

    # -- the runner's side ----------------------------------------------------------------

    def declare(self, declared: Mapping[str, BreakerPolicy]) -> None:
        """Store the code's breakers: a missing one closed, a code-sourced policy replaced.

        A policy an operator set (``policy_source`` "operator") wins over the code's.
        """
        if not declared:
            return
        now = self._now()
        with self.writing() as conn:
            changed = False
            for name, policy in declared.items():
                changed |= self._ensure(conn, name, policy, now)
                changed |= bool(
                    conn.execute(
                        breakers.update()
                        .where(
                            breakers.c.name == name,
                            breakers.c.policy_source == "code",
                            breakers.c.policy != policy.to_json(),
                        )
                        .values(policy=policy.to_json(), updated_at=now)
                    ).rowcount
                )
            if changed:
                self.store.notify_settings_changed(conn)
                conn.info[_CHANGED] = True

    def admit(
        self, name: str, declared: BreakerPolicy | None, instance_id: str, token: int
    ) -> Admission:
        """May the instance (under lease ``token``) call ``name`` now?

        An open circuit past its ``until`` half-opens here. A half-open one admits its
        permitted number of probes (a permit counts while its instance holds the lease it
        was taken under, so a crashed probe frees its permit); everybody else waits.
        """
        now = self._now()
        with self.writing() as conn:
            row = self._locked(conn, name, declared, now)
            if row is None or row.state.lets_calls_through:
                return Admission(True, state=BreakerState.CLOSED if row is None else row.state)
            held_back = now + row.policy.open_for * HELD_BACK_FACTOR
            if row.state is BreakerState.FORCED_OPEN:
                return Admission(False, retry_at=held_back, state=row.state)
            if row.state is BreakerState.OPEN:
                assert row.until is not None
                if now < row.until:
                    return Admission(False, retry_at=row.until, state=row.state)
            if not _holds_lease(conn, instance_id, token):
                return Admission(False, retry_at=now, state=row.state)  # stale: lease lost
            if row.state is BreakerState.OPEN:
                # The first probe of the period: its permit goes in before the event, which
                # is the transaction's last statement (see _outbox.py).
                permit = (instance_id, token)
                self._transition(
                    conn, row, BreakerState.HALF_OPEN, now, "open_for elapsed", permit=permit
                )
                return Admission(True, probe=True, state=BreakerState.HALF_OPEN)
            held = conn.execute(
                sa.select(breaker_probes.c.lease_token).where(
                    breaker_probes.c.name == name, breaker_probes.c.instance_id == instance_id
                )
            ).scalar()
            if held == token:
                return Admission(True, probe=True, state=row.state)
            live = conn.execute(
                sa.select(sa.func.count())
                .select_from(breaker_probes.join(instances, _permit_is_live(now)))
                .where(breaker_probes.c.name == name)
            ).scalar_one()
            if row.probe_calls + live >= row.policy.half_open_calls:
                return Admission(False, retry_at=held_back, state=row.state)
            self._take_permit(conn, name, instance_id, token, now)
            return Admission(True, probe=True, state=row.state)

    def record(
        self,
        name: str,
        declared: BreakerPolicy | None,
        outcome: CallOutcome | None,
        instance_id: str,
        token: int,
        *,
        probe: bool,
        duration: float = 0.0,
    ) -> None:
        """Record a call's outcome (None: it does not count, e.g. a business ``Reject``).

        A closed breaker adds it to its window and opens when the window says so; a
        half-open one counts its probes' outcomes and, once all are in, closes or opens
        again. A call admitted before the circuit opened and ending after is not counted.
        """
        now = self._now()
        with self.writing() as conn:
            row = self._locked(conn, name, declared, now)
            if row is None:
                return
            took_permit = probe and bool(
                conn.execute(
                    breaker_probes.delete().where(
                        breaker_probes.c.name == name,
                        breaker_probes.c.instance_id == instance_id,
                        breaker_probes.c.lease_token == token,
                    )
                ).rowcount
            )
            if outcome is None:
                return
            if row.state is BreakerState.HALF_OPEN:
                if took_permit:
                    self._probed(conn, row, outcome, now)
                return
            if not row.state.lets_calls_through:
                return
            conn.execute(
                breaker_calls.insert().values(
                    name=name, at=now, outcome=str(outcome), duration=duration
                )
            )
            rows = window_rows(conn, name, row.policy, now)
            why = verdict(row.policy, counted(rows)) if row.state is BreakerState.CLOSED else None
            if why is not None:
                self._transition(
                    conn, row, BreakerState.OPEN, now, why, until=now + row.policy.open_for
                )
            else:
                prune(conn, name, row.policy, rows, now)

    def wake_if_closed(self, instance_id: str, name: str) -> bool:
        """Make an instance that just suspended at ``name``'s circuit runnable if the circuit
        let calls through meanwhile (a close that committed between the instance's look
        and its suspension found nothing to wake). Returns whether it was woken."""
        query = sa.select(breakers.c.state).where(breakers.c.name == name)
        if self.store.dialect == "sqlite":
            # SQLite serializes writers: a close is wholly before this read (which sees it)
            # or wholly after it (and then wakes the instance itself). No write, mostly.
            with self.store.read() as conn:
                state = conn.execute(query).scalar()
            if state is None or not BreakerState(state).lets_calls_through:
                return False
        with self.writing() as conn:
            if self.store.dialect == "postgresql":
                # Share-locked: a transition in flight waits for this look or is waited for
                # (a plain read under READ COMMITTED could miss it both ways).
                query = query.with_for_update(read=True)
            state = conn.execute(query).scalar()
            if state is None or not BreakerState(state).lets_calls_through:
                return False
            return bool(self._wake_waiting(conn, name, self._now(), instance_id))

    # -- transitions (also used by the operators' actions) --------------------------------

    def _probed(
        self, conn: sa.Connection, row: BreakerView, outcome: CallOutcome, now: float
    ) -> None:
        counts = WindowCounts(
            row.probe_calls + 1, row.probe_failures + outcome.failed, row.probe_slow + outcome.slow
        )
        if counts.calls < row.policy.half_open_calls:
            conn.execute(
                breakers.update()
                .where(breakers.c.name == row.name)
                .values(
                    probe_calls=counts.calls,
                    probe_failures=counts.failures,
                    probe_slow=counts.slow,
                    updated_at=now,
                )
            )
            return
        why = verdict(row.policy, counts, minimum=counts.calls)
        if why is None:
            self._transition(conn, row, BreakerState.CLOSED, now, "half-open probes succeeded")
        else:
            until = now + row.policy.open_for
            self._transition(conn, row, BreakerState.OPEN, now, f"probes: {why}", until=until)

    def _transition(
        self,
        conn: sa.Connection,
        row: BreakerView,
        to: BreakerState,
        now: float,
        why: str,
        *,
        until: float | None = None,
        audit: AuditEntry | None = None,
        event: EventKind | None = None,
        clear_window: bool = True,
        permit: tuple[str, int] | None = None,
    ) -> BreakerView:
        """Move ``row`` to ``to`` in ``conn``'s transaction: its probes and (by default) its
        window start afresh, waiters are woken if calls go through, an outbox event last."""
        changes: dict[str, Any] = {
            "state": str(to),
            "since": now,
            "until": until,
            "probe_calls": 0,
            "probe_failures": 0,
            "probe_slow": 0,
            "updated_at": now,
        }
        if audit is not None:
            changes.update(reason=audit.reason, changed_by=audit.actor)
        conn.execute(breakers.update().where(breakers.c.name == row.name).values(**changes))
        conn.execute(breaker_probes.delete().where(breaker_probes.c.name == row.name))
        if permit is not None:  # (instance id, lease token) of the half-open's first probe
            self._take_permit(conn, row.name, *permit, now)
        if clear_window:
            conn.execute(breaker_calls.delete().where(breaker_calls.c.name == row.name))
        woken = self._wake_waiting(conn, row.name, now) if to.lets_calls_through else 0
        self.store.notify_settings_changed(conn)
        if audit is not None:
            # A close or reset records how many waiting instances it let go on.
            count = woken if to.lets_calls_through else None
            append_audit(conn, replace(audit, count=count), now)
        kind = (
            event
            or {
                BreakerState.OPEN: EventKind.CIRCUIT_OPENED,
                BreakerState.HALF_OPEN: EventKind.CIRCUIT_HALF_OPENED,
                BreakerState.CLOSED: EventKind.CIRCUIT_CLOSED,
                BreakerState.FORCED_OPEN: EventKind.CIRCUIT_FORCED_OPEN,
                BreakerState.FORCED_CLOSED: EventKind.CIRCUIT_FORCED_CLOSED,
            }[to]
        )
        payload = {
            "breaker": row.name,
            "from": str(row.state),
            "to": str(to),
            "why": why,
            "until": until,
            "woken": woken,
        }
        if audit is not None:
            payload.update(by=audit.actor, reason=audit.reason)
        append_event(conn, kind, row.name, payload, now)  # last: see _outbox.py
        conn.info[_CHANGED] = True
        return replace(row, state=to, since=now, until=until, probe_calls=0, probe_failures=0)

    def _wake_waiting(
        self, conn: sa.Connection, name: str, now: float, instance_id: str | None = None
    ) -> int:
        """Make the instances waiting at ``name``'s circuit runnable now; how many."""
        held = sa.and_(
            sa.text(TIMED),
            instances.c.wait_kind == WaitKind.CIRCUIT,
            instances.c.state == circuit_state(name),
        )
        if instance_id is not None:
            held = sa.and_(held, instances.c.id == instance_id)
        queues = (
            conn.execute(
                instances.update()
                .where(held)
                .values(status=InstanceStatus.RUNNABLE, run_at=now, updated_at=now)
                .returning(instances.c.queue)
            )
            .scalars()
            .all()
        )
        for queue in set(queues):
            self.store.notify_workers(conn, queue)
        return len(queues)

    # -- helpers --------------------------------------------------------------------------

    def _take_permit(
        self, conn: sa.Connection, name: str, instance_id: str, token: int, now: float
    ) -> None:
        values = {"lease_token": token, "taken_at": now}
        conn.execute(
            self._insert(breaker_probes)
            .values(name=name, instance_id=instance_id, **values)
            .on_conflict_do_update(index_elements=["name", "instance_id"], set_=values)
        )

    def _ensure(self, conn: sa.Connection, name: str, policy: BreakerPolicy, now: float) -> bool:
        """Insert ``name`` closed with the code's ``policy`` unless it exists; whether it did."""
        statement = self._insert(breakers).values(
            name=name,
            state=str(BreakerState.CLOSED),
            since=now,
            policy=policy.to_json(),
            policy_source="code",
            updated_at=now,
        )
        return bool(
            conn.execute(statement.on_conflict_do_nothing(index_elements=["name"])).rowcount
        )

    def _locked(
        self, conn: sa.Connection, name: str, declared: BreakerPolicy | None, now: float
    ) -> BreakerView | None:
        """``name``'s row, locked for this transaction (PostgreSQL; SQLite's write lock
        does that), created from the code's declaration if it is not stored yet."""
        if declared is not None:
            self._ensure(conn, name, declared, now)
        query = sa.select(breakers).where(breakers.c.name == name)
        if self.store.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        return None if row is None else BreakerView.from_row(row)


def _permit_is_live(now: float) -> sa.ColumnElement[bool]:
    # As a dependency slot: a permit counts while its instance still runs under the lease
    # it was taken with, so a crashed probe's permit frees itself.
    return sa.and_(
        instances.c.id == breaker_probes.c.instance_id,
        instances.c.lease_token == breaker_probes.c.lease_token,
        instances.c.status == InstanceStatus.RUNNING,
        instances.c.run_at > now,
    )
