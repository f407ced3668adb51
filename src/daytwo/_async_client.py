"""``AsyncClient``: start, signal, wait for and read instances from async code (FastAPI).

Every call is the sync :class:`~daytwo.Client`'s (or, for an App's async client, the
App's, which also takes workflow functions), run in a thread (``asyncio.to_thread``) so
that the event loop is never blocked by the database. A result wait holds no thread: it
is a future that the client's shared result poller resolves (``_async_results.py``).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from daytwo._async_results import wait_async
from daytwo._client import Client
from daytwo._records import HistoryEvent, HumanTask, Instance
from daytwo._results import outcome_of
from daytwo.store import TERMINAL_STATUSES

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["AsyncClient", "AsyncInstanceHandle", "AsyncTasks"]

Workflow = str | Callable[..., Any]


class AsyncClient:
    """The async face of a :class:`~daytwo.Client` (``AsyncClient(Client(url))``) or of
    an App (``app.async_client()``: workflow functions are accepted as with ``app.start``).

    Closing it closes nothing: the client or App it wraps stays its owner's to close.
    """

    def __init__(self, target: Client | App) -> None:
        self._app = None if isinstance(target, Client) else target
        #: The sync client every call goes through.
        self.client: Client = target if isinstance(target, Client) else target.client
        #: The human-task inbox.
        self.tasks = AsyncTasks(self.client)

    @staticmethod
    def _name(workflow: Workflow) -> str:
        if isinstance(workflow, str):
            return workflow
        from daytwo._errors import InvalidInput

        raise InvalidInput(
            f"AsyncClient(Client(...)).start got {workflow!r}; a client without code starts "
            "workflows by name (or use app.async_client(), which takes functions)"
        )

    async def start(
        self,
        workflow: Workflow,
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> AsyncInstanceHandle:
        """Durably start an instance (see :meth:`daytwo.Client.start`)."""
        options: dict[str, Any] = {
            "id": id, "version": version, "queue": queue, "priority": priority,
        }  # fmt: skip
        if self._app is not None:
            handle = await asyncio.to_thread(self._app.start, workflow, input, **options)
        else:
            handle = await asyncio.to_thread(
                self.client.start, self._name(workflow), input, **options
            )
        return AsyncInstanceHandle(self, handle.id, created=handle.created)

    async def start_many(
        self,
        workflow: Workflow,
        inputs: Iterable[Any],
        *,
        ids: Iterable[str] | None = None,
        version: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> builtins.list[AsyncInstanceHandle]:
        """Durably start one instance per input, in one commit (see
        :meth:`daytwo.Client.start_many`)."""
        values = builtins.list(inputs)
        names = None if ids is None else builtins.list(ids)
        options: dict[str, Any] = {
            "ids": names, "version": version, "queue": queue, "priority": priority,
        }  # fmt: skip
        if self._app is not None:
            handles = await asyncio.to_thread(self._app.start_many, workflow, values, **options)
        else:
            handles = await asyncio.to_thread(
                self.client.start_many, self._name(workflow), values, **options
            )
        return [AsyncInstanceHandle(self, h.id, created=h.created) for h in handles]

    def handle(self, instance_id: str) -> AsyncInstanceHandle:
        """A handle to an instance (not looked up: its first use says if it exists)."""
        return AsyncInstanceHandle(self, instance_id)

    async def result(self, instance_id: str, timeout: float | None = None) -> Any:
        """Wait for the instance to end and return its output (see
        :meth:`daytwo.Client.result`); the wait holds no thread."""
        client = self.client
        row = await wait_async(client.result_waits, instance_id, timeout)
        if row["status"] in TERMINAL_STATUSES:
            return outcome_of(row, client.serializer.loads)
        raise TimeoutError(
            f"instance {instance_id!r} is still {row['status']} "
            f"(state {row['state']!r}) after {timeout} s"
        )

    async def signal(
        self, instance_id: str, name: str, payload: Any = None, *, sent_by: str | None = None
    ) -> None:
        """Deliver a signal (see :meth:`daytwo.Client.signal`)."""
        await asyncio.to_thread(self.client.signal, instance_id, name, payload, sent_by=sent_by)

    async def cancel(
        self, instance_id: str, reason: str = "cancelled by operator", *, by: str | None = None
    ) -> None:
        """Cancel an active instance (see :meth:`daytwo.Client.cancel`)."""
        await asyncio.to_thread(self.client.cancel, instance_id, reason, by=by)

    async def get(self, instance_id: str) -> Instance:
        """The instance as stored now."""
        return await asyncio.to_thread(self.client.get, instance_id)

    async def list(
        self,
        *,
        workflow: str | None = None,
        status: str | Sequence[str] | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Instance]:
        """Instances, newest first (see :meth:`daytwo.Client.list`)."""
        return await asyncio.to_thread(
            self.client.list, workflow=workflow, status=status, state=state, limit=limit
        )

    async def history(self, instance_id: str) -> builtins.list[HistoryEvent]:
        """The instance's history."""
        return await asyncio.to_thread(self.client.history, instance_id)

    def __repr__(self) -> str:
        return f"<AsyncClient of {self.client!r}>"


class AsyncInstanceHandle:
    """A reference to one instance, acting through its :class:`AsyncClient`."""

    def __init__(self, client: AsyncClient, instance_id: str, *, created: bool = True) -> None:
        self.client = client
        self.id = instance_id
        #: False when ``start`` found an existing instance with this id.
        self.created = created

    async def status(self) -> Instance:
        """The instance as stored now."""
        return await self.client.get(self.id)

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the output (see :meth:`AsyncClient.result`)."""
        return await self.client.result(self.id, timeout)

    async def signal(self, name: str, payload: Any = None) -> None:
        """Send a signal to this instance."""
        await self.client.signal(self.id, name, payload)

    async def cancel(self, reason: str = "cancelled by operator") -> None:
        """Cancel this instance."""
        await self.client.cancel(self.id, reason)

    def __repr__(self) -> str:
        return f"<AsyncInstanceHandle {self.id!r}>"


class AsyncTasks:
    """The human-task inbox, for async code (see :class:`daytwo.HumanTasks`)."""

    def __init__(self, client: Client) -> None:
        self._tasks = client.tasks

    async def list(
        self, *, status: str | None = "open", assignee: str | None = None, limit: int = 100
    ) -> builtins.list[HumanTask]:
        """Tasks, oldest first (open ones by default; ``status=None`` for all)."""
        return await asyncio.to_thread(
            self._tasks.list, status=status, assignee=assignee, limit=limit
        )

    async def get(self, task_id: str) -> HumanTask:
        """One task, with its plan."""
        return await asyncio.to_thread(self._tasks.get, task_id)

    async def complete(
        self, task_id: str, result: Any = None, *, reason: str | None = None, by: str | None = None
    ) -> None:
        """Complete an open task with ``result``; its instance resumes with it."""
        await asyncio.to_thread(self._tasks.complete, task_id, result, reason=reason, by=by)

    async def cancel(
        self, task_id: str, *, reason: str | None = None, by: str | None = None
    ) -> None:
        """Cancel an open task."""
        await asyncio.to_thread(self._tasks.cancel, task_id, reason=reason, by=by)
