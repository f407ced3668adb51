"""The App's client methods: each one is its Client's (``app.client``), so every action has
one implementation; :class:`~daytwo.App` inherits them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from daytwo._bulk import BulkJob, BulkPreview
from daytwo._explain import Explanation
from daytwo._handles import InstanceHandle
from daytwo._purge import PurgeReport
from daytwo._records import Attempt, HistoryEvent, Instance, Transition
from daytwo._selection import Selection

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["ClientMethods"]


class ClientMethods:
    """Delegates to ``self.client`` (the App's Client)."""

    client: Client

    def get(self, instance_id: str) -> Instance:
        """The instance with that id; raises :class:`InstanceNotFound`."""
        return self.client.get(instance_id)

    status = get

    def handle(self, instance_id: str) -> InstanceHandle:
        """A handle to an existing instance."""
        return self.client.handle(instance_id)

    def signal(
        self, instance_id: str, name: str, payload: Any = None, *, sent_by: str | None = None
    ) -> None:
        """Deliver a signal (see :meth:`Client.signal`)."""
        self.client.signal(instance_id, name, payload, sent_by=sent_by)

    def cancel(
        self, instance_id: str, reason: str = "cancelled by operator", *, by: str | None = None
    ) -> None:
        """Cancel an active instance: it stops at its next durable point and compensates
        (see :meth:`Client.cancel`)."""
        self.client.cancel(instance_id, reason, by=by)

    def restart(self, instance_id: str, **options: Any) -> InstanceHandle:
        """See :meth:`Client.restart`."""
        return self.client.restart(instance_id, **options)

    def fork(self, instance_id: str, position: int, **options: Any) -> InstanceHandle:
        """See :meth:`Client.fork`."""
        return self.client.fork(instance_id, position, **options)

    def bulk(
        self, action: str, selection: Selection, params: Any = None, **options: Any
    ) -> BulkPreview | BulkJob:
        """See :meth:`Client.bulk`."""
        return self.client.bulk(action, selection, params, **options)

    def explain(self, instance_id: str) -> Explanation:
        """What the instance waits for and why, and the actions that apply now (see
        :meth:`Client.explain`)."""
        return self.client.explain(instance_id)

    def retry(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """Run a parked or backing-off step again now (see :meth:`Client.retry`)."""
        return self.client.retry(instance_id, reason=reason, by=by)

    def skip(self, instance_id: str, result: Any, *, reason: str | None = None, by: str | None = None) -> Instance:  # fmt: skip  # noqa: E501
        """Complete a parked step with ``result`` (see :meth:`Client.skip`)."""
        return self.client.skip(instance_id, result, reason=reason, by=by)

    def resume(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """Continue a parked instance under the code now deployed (see :meth:`Client.resume`)."""
        return self.client.resume(instance_id, reason=reason, by=by)

    def abort(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """End with compensation (see :meth:`Client.abort`)."""
        return self.client.abort(instance_id, reason=reason, by=by)

    def terminate(self, instance_id: str, *, reason: str | None = None, by: str | None = None) -> Instance:  # fmt: skip  # noqa: E501
        """End now, TERMINATED, without compensation (see :meth:`Client.terminate`)."""
        return self.client.terminate(instance_id, reason=reason, by=by)

    def wake(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        """Skip the rest of a timed wait now (see :meth:`Client.wake`)."""
        return self.client.wake(instance_id, reason=reason, by=by)

    def result(self, instance_id: str, timeout: float | None = None) -> Any:
        """Wait for the instance to end and return its output (see :meth:`Client.result`)."""
        return self.client.result(instance_id, timeout)

    def list(
        self,
        *,
        workflow: str | None = None,
        status: str | Sequence[str] | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Instance]:
        """Instances, newest first, filtered by workflow, status(es) and state label."""
        return self.client.list(workflow=workflow, status=status, state=state, limit=limit)

    def history(self, instance_id: str) -> builtins.list[HistoryEvent]:
        """The instance's recorded operations in order."""
        return self.client.history(instance_id)

    def attempts(self, instance_id: str) -> builtins.list[Attempt]:
        """The instance's failed step attempts."""
        return self.client.attempts(instance_id)

    def transitions(self, instance_id: str) -> builtins.list[Transition]:
        """The instance's state transitions in order."""
        return self.client.transitions(instance_id)

    def purge(self, before: Any, **options: Any) -> PurgeReport:
        """Delete ended instances before ``before`` (see :meth:`Client.purge`)."""
        return self.client.purge(before, **options)
