"""The operator actions of a :class:`RemoteClient` over HTTP (retry, skip, ... restart,
fork, explain, bulk, start_many, workflows, workers, purge): the same signatures as the
Client's, each one request to the route that runs the Client's method, the answer parsed
into the same record type.

``by`` is not sent: over HTTP the actor is the token's name, which the server records.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from daytwo._bulk import BulkJob, BulkPreview, BulkProgress
from daytwo._errors import InvalidInput, SerializationError
from daytwo._explain import Explanation
from daytwo._handles import InstanceHandle
from daytwo._live_workers import WorkerInfo
from daytwo._purge import PurgeReport
from daytwo._records import Instance
from daytwo._registered import RegisteredWorkflow
from daytwo._selection import Selection
from daytwo.engine import Serializer
from daytwo.store import DEFAULT_BATCH, OperatorAction, PurgeRun

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["RemoteActions", "RemoteBulkJob"]


def _seg(text: str) -> str:
    """``text`` as one path segment (an id with a slash stays one segment)."""
    return quote(text, safe="")


def _seconds(timeout: timedelta | float | None) -> float | None:
    return timeout.total_seconds() if isinstance(timeout, timedelta) else timeout


class RemoteBulkJob(BulkJob):
    """A bulk job started over HTTP: its progress is read from the server."""

    def progress(self) -> BulkProgress:
        found: BulkProgress = self.client.bulk_job(self.id)
        return found


class RemoteActions:
    """Mixed into :class:`RemoteClient` before :class:`Client`, so these win."""

    if TYPE_CHECKING:
        serializer: Serializer

        def call(
            self,
            method: str,
            path: str,
            into: Any = None,
            *,
            json: Any = None,
            params: Mapping[str, Any] | None = None,
        ) -> Any: ...

    # -- the actions on one instance ------------------------------------------------------

    def _on_instance(self, verb: str, instance_id: str, body: dict[str, Any]) -> Instance:
        found: Instance = self.call(
            "POST", f"/instances/{_seg(instance_id)}/{verb}", Instance, json=body
        )
        return found

    def retry(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        return self._on_instance("retry", instance_id, {"reason": reason})

    def resume(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        return self._on_instance("resume", instance_id, {"reason": reason})

    def skip(
        self, instance_id: str, result: Any, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        try:  # refused here as the Client refuses it: JSON is what travels
            self.serializer.dumps(result, f"the result to skip {instance_id!r} with")
        except SerializationError as exc:
            raise InvalidInput(f"{exc}; give a result the serializer can store") from None
        return self._on_instance("skip", instance_id, {"result": result, "reason": reason})

    def abort(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        return self._on_instance("abort", instance_id, {"reason": reason})

    def terminate(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        return self._on_instance("terminate", instance_id, {"reason": reason})

    def wake(
        self, instance_id: str, *, reason: str | None = None, by: str | None = None
    ) -> Instance:
        return self._on_instance("wake", instance_id, {"reason": reason})

    def _derived(self, verb: str, instance_id: str, body: dict[str, Any]) -> InstanceHandle:
        made = self.call("POST", f"/instances/{_seg(instance_id)}/{verb}", dict, json=body)
        return InstanceHandle(self._client, made["id"], created=made["created"])

    def restart(
        self,
        instance_id: str,
        *,
        new_id: str | None = None,
        version: str | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> InstanceHandle:
        body = {"new_id": new_id, "version": version, "reason": reason}
        return self._derived("restart", instance_id, body)

    def fork(
        self,
        instance_id: str,
        position: int,
        *,
        new_id: str | None = None,
        version: str | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> InstanceHandle:
        body = {"position": position, "new_id": new_id, "version": version, "reason": reason}
        return self._derived("fork", instance_id, body)

    def explain(self, instance_id: str) -> Explanation:
        found: Explanation = self.call(
            "GET", f"/instances/{_seg(instance_id)}/explain", Explanation
        )
        return found

    def start_many(
        self,
        workflow: str,
        inputs: Iterable[Any],
        *,
        ids: Iterable[str] | None = None,
        version: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        timeout: timedelta | float | None = None,
    ) -> builtins.list[InstanceHandle]:
        body = {
            "workflow": workflow, "inputs": builtins.list(inputs),
            "ids": None if ids is None else builtins.list(ids), "version": version,
            "queue": queue, "priority": priority, "timeout": _seconds(timeout),
        }  # fmt: skip
        started = self.call("POST", "/instances:start-many", builtins.list[dict[str, Any]],
                            json=body)  # fmt: skip
        return [InstanceHandle(self._client, s["id"], created=s["created"]) for s in started]

    # -- bulk -----------------------------------------------------------------------------

    def bulk(
        self,
        action: str | OperatorAction,
        selection: Selection,
        params: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = True,
        rate: float | None = None,
        batch_size: int | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> BulkPreview | BulkJob:
        if not isinstance(selection, Selection):
            raise InvalidInput(f"a bulk action needs a daytwo.Selection, not {selection!r}")
        body = {
            "action": str(action), "selection": selection.to_dict(),
            "params": None if params is None else dict(params), "dry_run": dry_run,
            "rate": rate, "batch_size": batch_size, "reason": reason,
        }  # fmt: skip
        found = self.call("POST", "/bulk", BulkPreview | BulkProgress, json=body)
        if isinstance(found, BulkPreview):
            return found
        return RemoteBulkJob(self._client, found.id)

    def bulk_job(self, job_id: str) -> BulkProgress:
        found: BulkProgress = self.call("GET", f"/bulk/{_seg(job_id)}", BulkProgress)
        return found

    def bulk_jobs(self, limit: int = 50) -> builtins.list[BulkProgress]:
        found: builtins.list[BulkProgress] = self.call(
            "GET", "/bulk", builtins.list[BulkProgress], params={"limit": limit}
        )
        return found

    def bulk_items(
        self, job_id: str, outcome: str | None = None, limit: int = 100
    ) -> builtins.list[dict[str, Any]]:
        from daytwo.api.routes import BulkItem

        found: builtins.list[BulkItem] = self.call(
            "GET", f"/bulk/{_seg(job_id)}/items", builtins.list[BulkItem],
            params={"outcome": outcome, "limit": limit},
        )  # fmt: skip
        return [item.model_dump(mode="json") for item in found]

    # -- what runs, and what is kept ------------------------------------------------------

    def workflows(self) -> builtins.list[RegisteredWorkflow]:
        found: builtins.list[RegisteredWorkflow] = self.call(
            "GET", "/workflows", builtins.list[RegisteredWorkflow]
        )
        return found

    def workers(self, *, stopped: bool = False) -> builtins.list[WorkerInfo]:
        found: builtins.list[WorkerInfo] = self.call(
            "GET", "/workers", builtins.list[WorkerInfo], params={"stopped": stopped}
        )
        return found

    def purge(
        self,
        before: str | datetime | float | timedelta,
        *,
        workflow: str | None = None,
        archive_dir: str | Path | None = None,
        dry_run: bool = True,
        force: bool = False,
        batch: int = DEFAULT_BATCH,
        reason: str | None = None,
        by: str | None = None,
        progress: Callable[[PurgeRun], None] | None = None,
    ) -> PurgeReport:
        # A moment travels as text the server reads with its own clock, as "90d" is read.
        when: str | float
        if isinstance(before, timedelta):
            when = f"{before.total_seconds()}s"
        elif isinstance(before, datetime):
            when = before.isoformat()
        else:
            when = before
        body = {
            "before": when, "workflow": workflow, "dry_run": dry_run, "force": force,
            "batch": batch, "reason": reason,
            "archive_dir": None if archive_dir is None else str(archive_dir),
        }  # fmt: skip
        report: PurgeReport = self.call("POST", "/purge", PurgeReport, json=body)
        if progress is not None and report.deleted:  # the batches ran on the server
            progress(PurgeRun(deleted=report.deleted, batches=1))
        return report

    @property
    def _client(self) -> Client:
        """This object as the Client it is mixed into (for handles)."""
        from daytwo._client import Client

        assert isinstance(self, Client)
        return self
