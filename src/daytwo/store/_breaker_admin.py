"""What operators do to circuit breakers: configure, force open, force close, reset, look.

Each action is one transaction that carries it out and appends its audit row (and, for a
transition, its outbox event, last). A refusal changes nothing and raises: an unknown
breaker is :class:`BreakerNotFound` naming the known ones, an action that makes no sense
in the breaker's state :class:`NotRunnable` saying what it is in and what would work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from daytwo._errors import BreakerNotFound, NotRunnable
from daytwo.store._audit import AuditEntry, append_audit
from daytwo.store._breaker_policy import BreakerPolicy, WindowCounts
from daytwo.store._breaker_records import BreakerView, circuit_state
from daytwo.store._breakers import _CHANGED, Breakers
from daytwo.store._operator_schema import breakers
from daytwo.store._schema import TIMED, instances
from daytwo.store._vocabulary import BreakerState, WaitKind

__all__ = ["BreakerControl", "BreakerStatus"]


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A breaker as an operator sees it: the stored state, the window now, who waits."""

    breaker: BreakerView
    window: WindowCounts
    #: Instances waiting at this circuit (state ``circuit open: NAME``).
    waiting: int

    @property
    def name(self) -> str:
        """The dependency's name."""
        return self.breaker.name

    @property
    def state(self) -> BreakerState:
        """The stored state."""
        return self.breaker.state

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601)."""
        view = self.breaker
        return {
            "name": view.name,
            "state": str(view.state),
            "since": _iso(view.since),
            "until": _iso(view.until),
            "calls": self.window.calls,
            "failures": self.window.failures,
            "slow": self.window.slow,
            "failure_rate": self.window.failure_rate,
            "slow_rate": self.window.slow_rate,
            "probes": {
                "calls": view.probe_calls,
                "failures": view.probe_failures,
                "slow": view.probe_slow,
                "permitted": view.policy.half_open_calls,
            },
            "waiting": self.waiting,
            "policy": view.policy.to_dict(),
            "policy_source": view.policy_source,
            "reason": view.reason,
            "changed_by": view.changed_by,
        }


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()


class BreakerControl(Breakers):
    """The breakers of a database, with the operators' actions on them."""

    def statuses(self) -> list[BreakerStatus]:
        """Every breaker, by name."""
        now = self._now()
        with self.store.read() as conn:
            rows = conn.execute(sa.select(breakers).order_by(breakers.c.name)).mappings().all()
            return [self._status(conn, BreakerView.from_row(row), now) for row in rows]

    def status(self, name: str) -> BreakerStatus:
        """One breaker; :class:`BreakerNotFound` names the known ones."""
        now = self._now()
        with self.store.read() as conn:
            row = (
                conn.execute(sa.select(breakers).where(breakers.c.name == name)).mappings().first()
            )
            if row is None:
                raise self._unknown(conn, name)
            return self._status(conn, BreakerView.from_row(row), now)

    def configure(
        self,
        name: str,
        policy: BreakerPolicy,
        audit: AuditEntry,
        check_name: Callable[[str], None] | None = None,
    ) -> BreakerStatus:
        """Store ``policy`` for ``name`` (an operator's: it wins over the code's default).

        A breaker that does not exist yet is created closed; ``check_name`` refuses a
        dependency no step calls (the caller skips it with ``force``).
        """
        now = self._now()
        if check_name is not None and name not in self.snapshot(fresh=True):
            check_name(name)
        values = {
            "policy": policy.to_json(),
            "policy_source": "operator",
            "reason": audit.reason,
            "changed_by": audit.actor,
            "updated_at": now,
        }
        with self.writing() as conn:
            self._ensure(conn, name, policy, now)
            conn.execute(breakers.update().where(breakers.c.name == name).values(**values))
            self.store.notify_settings_changed(conn)
            append_audit(conn, audit, now)
            conn.info[_CHANGED] = True
        return self.status(name)

    def force_open(self, name: str, audit: AuditEntry) -> BreakerStatus:
        """Hold the circuit open until an operator closes or resets it."""
        return self._force(name, BreakerState.FORCED_OPEN, audit, "forced open by an operator")

    def force_close(self, name: str, audit: AuditEntry) -> BreakerStatus:
        """Hold the circuit closed (calls go through whatever their outcomes); waiters go on."""
        return self._force(name, BreakerState.FORCED_CLOSED, audit, "forced closed by an operator")

    def reset(self, name: str, audit: AuditEntry) -> BreakerStatus:
        """Back to closed with an empty window, out of any forced state; waiters go on."""
        now = self._now()
        with self.writing() as conn:
            row = self._existing(conn, name)
            if (
                row.state is BreakerState.CLOSED
                and not self.window(conn, name, row.policy, now).calls
            ):
                raise NotRunnable(
                    f"breaker {name!r} is closed with no calls in its window; nothing to reset"
                )
            self._transition(
                conn, row, BreakerState.CLOSED, now, "reset by an operator", audit=audit
            )
        return self.status(name)

    def _force(self, name: str, to: BreakerState, audit: AuditEntry, why: str) -> BreakerStatus:
        now = self._now()
        with self.writing() as conn:
            row = self._existing(conn, name)
            if row.state is to:
                other = "close" if to is BreakerState.FORCED_OPEN else "open"
                raise NotRunnable(
                    f"breaker {name!r} is already {to.replace('_', ' ')} (since "
                    f"{_iso(row.since)}, by {row.changed_by or 'unknown'}); "
                    f"`daytwo breaker {other}` or `reset` changes it"
                )
            self._transition(conn, row, to, now, why, audit=audit, clear_window=False)
        return self.status(name)

    def _existing(self, conn: sa.Connection, name: str) -> BreakerView:
        row = self._locked(conn, name, None, self._now())
        if row is None:
            raise self._unknown(conn, name)
        return row

    def _unknown(self, conn: sa.Connection, name: str) -> BreakerNotFound:
        known = conn.execute(sa.select(breakers.c.name).order_by(breakers.c.name)).scalars().all()
        return BreakerNotFound(name, list(known))

    def _status(self, conn: sa.Connection, view: BreakerView, now: float) -> BreakerStatus:
        waiting = conn.execute(
            sa.select(sa.func.count())
            .select_from(instances)
            .where(
                sa.text(TIMED),
                instances.c.wait_kind == WaitKind.CIRCUIT,
                instances.c.state == circuit_state(view.name),
            )
        ).scalar_one()
        return BreakerStatus(view, self.window(conn, view.name, view.policy, now), int(waiting))
