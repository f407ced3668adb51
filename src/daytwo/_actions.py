"""The instance actions of a :class:`~daytwo.Client`: retry, skip, resume, abort, terminate,
wake.

Each is audited (``by``, default :func:`resolve_actor`, and ``reason`` are recorded with
the outcome, a refusal in a row of its own), refused with :class:`NotRunnable` when the
instance's state does not allow it (the message names the state and what would work), and
returns the :class:`Instance` after the change. The rules, and the SQL, are in
``store/_actions.py`` and ``store/_terminate.py``; the engine does the rest when a worker
picks the instance up.

Retry and resume differ only in what they accept: both run a parked step again now, with a
fresh retry budget and the same idempotency key; retry also runs a step that is waiting in
a retry backoff now (its budget goes on), resume only continues a parked instance (after a
fix was deployed: the step runs under the code the worker has now).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from daytwo._audit import AuditEntry, AuditTarget, AuditTrail, OperatorAction, resolve_actor
from daytwo._errors import InvalidInput, SerializationError
from daytwo._events import LocalEvents
from daytwo._records import Instance
from daytwo._starts import outside_workflow
from daytwo.engine import Clock, Serializer
from daytwo.store import InstanceActions, Store, terminate_instance

__all__ = ["ClientActions"]

#: What an action does to the store: (actions, audit entry, actor, now).
_CarryOut = Callable[[InstanceActions, AuditEntry, str, float], None]


class ClientActions:
    """The instance actions, mixed into :class:`~daytwo.Client`; see the module docstring."""

    if TYPE_CHECKING:  # provided by Client

        @property
        def store(self) -> Store: ...

        serializer: Serializer
        clock: Clock
        audit: AuditTrail
        events: LocalEvents
        caller: str

        def get(self, instance_id: str) -> Instance: ...

    def retry(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """Run the parked step (NEEDS_ATTENTION) again now, with a fresh retry budget, or
        end the backoff of a step waiting to be retried; same idempotency key, next attempt
        number."""
        return self._act(
            OperatorAction.RETRY, instance_id, reason, by,
            lambda actions, entry, _, now: actions.retry(instance_id, now, entry),
        )  # fmt: skip

    def resume(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """Continue a parked instance from its parked step under the code deployed now,
        with a fresh retry budget (only a parked one: see the module docstring)."""
        return self._act(
            OperatorAction.RESUME, instance_id, reason, by,
            lambda actions, entry, _, now: actions.retry(instance_id, now, entry, parked_only=True),
        )  # fmt: skip

    def skip(
        self, instance_id: str, result: Any, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """Record the parked (or backing-off) step as completed with ``result``, supplied by
        an operator (its history row's ``detail`` says who and why); the instance runs on
        from the next position, where a replay returns ``result`` like a recorded one. A
        skipped step is not compensated: its side effect never happened. ``result`` must
        be storable by the client's serializer (else :class:`InvalidInput`, nothing
        changed)."""

        def carry_out(actions: InstanceActions, entry: AuditEntry, actor: str, now: float) -> None:
            try:
                text = self.serializer.dumps(result, f"the result to skip {instance_id!r} with")
            except SerializationError as exc:
                raise InvalidInput(f"{exc}; give a result the serializer can store") from None
            detail = {"skipped_by": actor, "reason": reason}
            actions.skip(instance_id, text, now, entry, detail)

        return self._act(OperatorAction.SKIP, instance_id, reason, by, carry_out)

    def abort(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """End with compensation: a parked instance's step is recorded as failed (aborted
        by ``by``) and its completed steps are compensated now (it ends COMPENSATED, or
        FAILED with nothing to compensate); a running or waiting instance is cancelled
        (:meth:`Client.cancel`, recorded as an abort)."""

        def carry_out(actions: InstanceActions, entry: AuditEntry, actor: str, now: float) -> None:
            why = reason or "aborted by operator"
            detail = {"aborted_by": actor, "reason": reason}
            actions.abort(instance_id, f"aborted by {actor}: {why}", now, entry, detail)

        return self._act(OperatorAction.ABORT, instance_id, reason, by, carry_out)

    def terminate(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """End an active instance now, TERMINATED, without compensation; a worker running it
        is fenced off (its next write is rejected), open human tasks are closed."""

        def carry_out(actions: InstanceActions, entry: AuditEntry, actor: str, now: float) -> None:
            why = reason or "terminated by operator"
            terminate_instance(actions.store, instance_id, why, actor, now, entry)

        return self._act(OperatorAction.TERMINATE, instance_id, reason, by, carry_out)

    def wake(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """Skip the rest of a wait that has a time, now: a timer completes as if it had
        fired, a retry backoff retries, a throttled step asks for its slot, a signal wait
        with a timeout times out. A wait only for an event is refused."""
        return self._act(
            OperatorAction.WAKE, instance_id, reason, by,
            lambda actions, entry, _, now: actions.wake(instance_id, now, entry),
        )  # fmt: skip

    def _act(
        self,
        action: OperatorAction,
        instance_id: str,
        reason: str | None,
        by: str | None,
        carry_out: _CarryOut,
    ) -> Instance:
        verb = action.value.split(".")[-1]
        outside_workflow(f"{self.caller}.{verb}()", f"{verb} again")
        actor = resolve_actor(by)
        entry = AuditEntry(actor, action, AuditTarget.INSTANCE, instance_id, reason)
        with self.audit.refusals(entry):
            carry_out(InstanceActions(self.store), entry, actor, self.clock.now())
        self.events.changed()
        return self.get(instance_id)
