"""Circuit breakers as a Client sees them (``client.breakers``), and their declaration in code.

One implementation per action, which the CLI (``daytwo breaker ...``) and the coming HTTP
API call: list, get, configure, open (force open), close (force close), reset. Every
action takes ``reason=`` and ``by=`` and is audited, done or refused.

**Which policy wins.** A breaker's policy is stored (``breakers.policy``), so every worker
judges the same window by the same rule. The code's declaration
(``app.circuit_breaker(NAME, policy)``) is the default: a worker stores it when it starts
(and a call stores it when no worker did), and replaces a policy the code stored before.
Once an operator configured the breaker (``daytwo breaker set``), the stored setting wins
over every deploy until the operator changes it again.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable

from daytwo._audit import AuditEntry, AuditTarget, AuditTrail, OperatorAction, resolve_actor
from daytwo._errors import InvalidInput
from daytwo.engine import Registry, check_name
from daytwo.store import BreakerPolicy, BreakerStatus, FlowControl

__all__ = ["BreakerActions", "declare_breaker"]


def declare_breaker(
    registry: Registry, dependency: str, policy: BreakerPolicy | None
) -> BreakerPolicy:
    """Declare (in code) the breaker of ``dependency`` with ``policy`` (default policy if
    None); returns the policy."""
    check_name("dependency", dependency)
    if policy is None:
        policy = BreakerPolicy()
    if not isinstance(policy, BreakerPolicy):
        raise InvalidInput(
            f"the breaker of {dependency!r} needs a daytwo.BreakerPolicy (got "
            f"{type(policy).__name__})"
        )
    registry.breakers[dependency] = policy
    return policy


class BreakerActions:
    """The circuit breakers of a database: ``client.breakers``."""

    def __init__(self, flow: Callable[[], FlowControl], audit: AuditTrail) -> None:
        self._flow = flow
        self._audit = audit

    def list(self) -> builtins.list[BreakerStatus]:
        """Every breaker (state, window, waiting instances), by name."""
        return self._flow().breakers.statuses()

    def get(self, name: str) -> BreakerStatus:
        """One breaker; an unknown name is :class:`~daytwo.BreakerNotFound` (it names the
        known ones)."""
        return self._flow().breakers.status(name)

    def configure(
        self,
        name: str,
        policy: BreakerPolicy,
        *,
        reason: str | None = None,
        by: str | None = None,
        force: bool = False,
    ) -> BreakerStatus:
        """Store ``policy`` for ``name``'s breaker (created closed if new); it wins over
        the code's declaration. A dependency no step calls is refused unless ``force``."""
        entry = self._entry(OperatorAction.BREAKER_SET, name, reason, by)
        with self._audit.refusals(entry):
            if not isinstance(policy, BreakerPolicy):
                raise InvalidInput(
                    f"configure needs a daytwo.BreakerPolicy (got {type(policy).__name__})"
                )
            check_name("dependency", name)
            flow = self._flow()
            entry = AuditEntry(
                entry.actor, entry.action, entry.target_kind, name, reason, policy.to_dict()
            )
            check = None if force else flow.names.dependency
            return flow.breakers.configure(name, policy, entry, check)

    def open(self, name: str, *, reason: str | None = None, by: str | None = None) -> BreakerStatus:
        """Force the circuit open: calls to ``name`` wait until it is closed or reset."""
        entry = self._entry(OperatorAction.BREAKER_OPEN, name, reason, by)
        with self._audit.refusals(entry):
            return self._flow().breakers.force_open(name, entry)

    def close(
        self, name: str, *, reason: str | None = None, by: str | None = None
    ) -> BreakerStatus:
        """Force the circuit closed: calls go through whatever their outcomes; the
        instances waiting at it continue at once."""
        entry = self._entry(OperatorAction.BREAKER_CLOSE, name, reason, by)
        with self._audit.refusals(entry):
            return self._flow().breakers.force_close(name, entry)

    def reset(
        self, name: str, *, reason: str | None = None, by: str | None = None
    ) -> BreakerStatus:
        """Back to closed with an empty window (leaving a forced state); the instances
        waiting at it continue at once."""
        entry = self._entry(OperatorAction.BREAKER_RESET, name, reason, by)
        with self._audit.refusals(entry):
            return self._flow().breakers.reset(name, entry)

    @staticmethod
    def _entry(action: OperatorAction, name: str, reason: str | None, by: str | None) -> AuditEntry:
        return AuditEntry(resolve_actor(by), action, AuditTarget.BREAKER, name, reason)
