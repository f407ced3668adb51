"""The application object: registry of workflows and steps, and the client API."""

from __future__ import annotations

import builtins
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from daytwo._errors import (
    InstanceNotFound,
    InvalidInput,
    NotRunnable,
)
from daytwo._handles import HumanTasks, InstanceHandle
from daytwo._inline import INLINE_LEASE_SECONDS, InlineRuns, outcome
from daytwo._records import Attempt, HistoryEvent, Instance, Transition
from daytwo._serving import Serving, catalog
from daytwo._starts import (
    check_priority,
    check_same_start,
    new_instance_id,
    new_row,
    outside_workflow,
)
from daytwo.engine._clock import Clock, FakeClock, SystemClock
from daytwo.engine._definitions import Registry, Step, WorkflowDefinition, check_name
from daytwo.engine._durable import Runtime
from daytwo.engine._retry import DEFAULT_RETRY, Retry
from daytwo.engine._serde import JsonSerializer, Serializer
from daytwo.store import ACTIVE_STATUSES, TERMINAL_STATUSES, InstanceRow, InstanceStatus
from daytwo.store._database import absolute_url, display_url, open_engine, resolve_url
from daytwo.store._flow import FlowControl
from daytwo.store._store import Store

if TYPE_CHECKING:
    from daytwo.worker._worker import Worker

__all__ = ["INLINE_LEASE_SECONDS", "App", "HumanTasks", "InstanceHandle", "new_instance_id"]

log = logging.getLogger("daytwo.app")

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class App:
    """A daytwo application: its workflows, its steps and its database.

    The database is opened on first use, so importing a module that creates an ``App``
    does not touch the disk. Which database: ``$DAYTWO_DATABASE`` if set, else
    ``database``, else ``sqlite:///daytwo.db`` (the command line's ``--database`` beats
    them all). A relative SQLite path in ``database`` is relative to the file of the module
    that creates the App, so every process importing it uses the same file;
    :attr:`database_url` is absolute.

    ``create``: whether this App may create daytwo's tables in an empty database (it may
    always upgrade an older daytwo database); ``False`` for a client that must find an
    existing one.
    """

    def __init__(
        self,
        database: str | None = None,
        *,
        clock: Clock | None = None,
        serializer: Serializer | None = None,
        create: bool = True,
    ) -> None:
        self._database_url = resolve_url(database, relative_to=_creating_module_directory())
        #: Whether opening the database may create daytwo's tables in an empty one.
        self.create = create
        self.clock: Clock = clock or SystemClock()
        self.serializer: Serializer = serializer or JsonSerializer()
        self.registry = Registry()
        self.tasks = HumanTasks(self)
        self._store: Store | None = None
        self._runtime: Runtime | None = None
        self._flow: FlowControl | None = None
        self._store_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._finished = threading.Condition()
        self._inline = InlineRuns(self)
        # Who serves what: explains due instances nothing runs, warns at unserved starts.
        self._serving = Serving(lambda: self.store, self.clock.now)

    # -- set-up ---------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """The absolute URL of the app's database (show it with ``display_url``)."""
        return self._database_url

    @database_url.setter
    def database_url(self, url: str) -> None:
        # Set at run time (by the command line's --database, a test): a relative SQLite
        # path is relative to the current directory.
        absolute = absolute_url(url, Path.cwd())
        if self._store is not None and absolute != self._database_url:
            raise InvalidInput(
                f"this App has opened {display_url(self._database_url)} already; set "
                "database_url before the App is first used, or create another App"
            )
        self._database_url = absolute

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) on first use."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    engine = open_engine(self._database_url, create=self.create)
                    log.debug("database %s", display_url(self._database_url))
                    self._store = Store(engine)
        return self._store

    @property
    def runtime(self) -> Runtime:
        """What runs of this app's instances need."""
        if self._runtime is None:
            self._runtime = Runtime(
                self.store, self.clock, self.serializer, self.registry, self.flow
            )
        return self._runtime

    @property
    def flow(self) -> FlowControl:
        """Flow control: queue limits, pauses and dependency limits (shared by all workers)."""
        if self._flow is None:
            self._flow = FlowControl(self.store, self.clock.now, lambda: catalog(self.registry))
        return self._flow

    def close(self) -> None:
        """Release database connections."""
        if self._store is not None:
            self._store.close()

    @overload
    def step(self, fn: Callable[P, R], /) -> Step[P, R]: ...

    @overload
    def step(
        self,
        *,
        name: str | None = None,
        retry: Retry | None = None,
        dependency: str | None = None,
        timeout: float | None = None,
    ) -> Callable[[Callable[P, R]], Step[P, R]]: ...

    def step(  # type: ignore[misc]  # mypy misreads the positional-only optional fn
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        retry: Retry | None = None,
        dependency: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Declare a step: its outcome is recorded, its failures retried per ``retry``.

        ``dependency`` names the external system the step calls (for per-dependency
        metrics); ``timeout`` bounds one attempt in seconds.
        """
        if timeout is not None and timeout <= 0:
            raise InvalidInput(f"step timeout must be a positive number of seconds (got {timeout})")

        def register(function: Callable[..., Any]) -> Step[..., Any]:
            step = Step(
                function,
                name=name or function.__name__,
                retry=retry or DEFAULT_RETRY,
                dependency=dependency,
                timeout=timeout,
            )
            self.registry.add_step(step)
            return step

        return register(fn) if fn is not None else register

    def workflow(
        self,
        *,
        name: str | None = None,
        version: str = "1",
        queue: str = "default",
        priority: int = 0,
    ) -> Callable[[F], F]:
        """Declare a workflow: ``fn(ctx, input)``; its instances are pinned to ``version``.

        New instances wait in ``queue`` (served by workers started with ``--queue``) with
        ``priority`` (lower first; both can be overridden per start).
        """
        check_name("queue", queue)
        check_priority(priority)

        def register(function: F) -> F:
            check_name("workflow", name or function.__name__)
            if not isinstance(version, str) or not version.strip():
                raise InvalidInput(f"workflow version must be a non-empty string (got {version!r})")
            self.registry.add_workflow(
                WorkflowDefinition(name or function.__name__, version, function, queue, priority)
            )
            function.__daytwo_workflow__ = name or function.__name__  # type: ignore[attr-defined]
            return function

        return register

    # -- starting and running -------------------------------------------------------------

    def _definition(
        self, workflow: str | Callable[..., Any], version: str | None
    ) -> WorkflowDefinition:
        name = (
            workflow
            if isinstance(workflow, str)
            else getattr(workflow, "__daytwo_workflow__", None)
        )
        if name is None:
            raise InvalidInput(f"{workflow!r} is not a workflow; decorate it with @app.workflow()")
        return self.registry.workflow(name, version)

    def start(
        self,
        workflow: str | Callable[..., Any],
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> InstanceHandle:
        """Durably start an instance for a worker to run; returns at once.

        Idempotent on ``id``: starting an id that exists returns a handle to the existing
        instance and never runs it twice; a start under that id with another workflow,
        version or input raises :class:`InstanceConflict`. ``queue`` and ``priority``
        default to the workflow's.
        """
        outside_workflow("app.start()", "start a new instance")
        definition = self._definition(workflow, version)
        if queue is not None:
            check_name("queue", queue)
        if priority is not None:
            check_priority(priority)
        row = new_row(
            definition,
            input,
            id,
            queue=definition.queue if queue is None else queue,
            priority=definition.priority if priority is None else priority,
            serializer=self.serializer,
            now=self.clock.now(),
        )
        created, existing = self.store.insert_instance(row)
        if created:
            self._notify()
            self._serving.warn_if_unserved(row)  # stored all the same: durable first
        else:
            check_same_start(self.serializer, existing, row, version)
        return InstanceHandle(self, existing["id"], created=created)

    def run(
        self,
        workflow: str | Callable[..., Any],
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Start an instance and execute it in this process; return its result.

        Waits (timers, retries) are slept through with the app's clock; waits for signals
        or human tasks are polled until someone sends them. The instance is durable like
        any other: if this process dies, a worker finishes it. An existing ``id`` is
        treated as in :meth:`start`.
        """
        outside_workflow("app.run()", "start a new instance")
        definition = self._definition(workflow, version)
        row = new_row(
            definition, input, id, queue=definition.queue, priority=definition.priority,
            serializer=self.serializer, now=self.clock.now(),
        )  # fmt: skip
        return self._inline.run(definition, row, version=version, timeout=timeout)

    # -- client operations ----------------------------------------------------------------

    def get(self, instance_id: str) -> Instance:
        """The instance with that id; raises :class:`InstanceNotFound`."""
        return self._explained([self._stored(instance_id)])[0]

    def _stored(self, instance_id: str) -> InstanceRow:
        """The instance row as stored (no explanation of why nothing runs it, which reads
        the worker registrations); raises :class:`InstanceNotFound`."""
        row = self.store.get_instance(instance_id)
        if row is None:
            raise InstanceNotFound(instance_id)
        return row

    status = get

    def handle(self, instance_id: str) -> InstanceHandle:
        """A handle to an existing instance."""
        self._stored(instance_id)
        return InstanceHandle(self, instance_id)

    def signal(
        self, instance_id: str, name: str, payload: Any = None, *, sent_by: str | None = None
    ) -> None:
        """Deliver a signal; the instance gets it when it waits for ``name`` (or at once)."""
        outside_workflow("app.signal()", "send the signal again")
        check_name("signal", name)
        text = self.serializer.dumps(payload, f"the payload of signal {name!r}")
        before = self.store.send_signal(
            instance_id, name, text, now=self.clock.now(), sent_by=sent_by
        )
        if before is None:
            raise InstanceNotFound(instance_id)
        if before["status"] in TERMINAL_STATUSES:
            raise NotRunnable(
                f"instance {instance_id!r} is {before['status']}; signals can only be sent "
                "to active instances"
            )
        self._notify()

    def cancel(self, instance_id: str, reason: str = "cancelled by operator") -> None:
        """Cancel an active instance: it stops at its next durable point and compensates.

        A cancel is a request that the instance honours at its next durable point, its end
        included: an instance whose last step is running when the cancel arrives does not
        succeed, it compensates and ends CANCELLED. It is refused (:class:`NotRunnable`)
        when the instance has ended, or is already compensating after a failure (it then
        ends COMPENSATED or COMPENSATION_FAILED by itself).
        """
        outside_workflow("app.cancel()", "cancel again")
        before = self.store.request_cancel(instance_id, reason, self.clock.now())
        if before is None:
            raise InstanceNotFound(instance_id)
        if before["status"] in TERMINAL_STATUSES:
            raise NotRunnable(
                f"instance {instance_id!r} already ended {before['status']}; nothing to cancel"
            )
        if before["error"] is not None:
            failure = json.loads(before["error"])
            raise NotRunnable(
                f"instance {instance_id!r} is already compensating after a failure "
                f"({failure.get('type')}: {failure.get('message')}); it ends COMPENSATED or "
                "COMPENSATION_FAILED by itself"
            )
        self._notify()

    def result(self, instance_id: str, timeout: float | None = None) -> Any:
        """Wait for the instance to end and return its output.

        Raises :class:`WorkflowFailed` if it ended otherwise, :class:`TimeoutError` if
        ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            instance = Instance.from_row(  # polled: no explanation
                self._stored(instance_id), loads=self.serializer.loads
            )
            if instance.status in TERMINAL_STATUSES:
                return outcome(instance)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"instance {instance_id!r} is still {instance.status} "
                    f"(state {instance.state!r}) after {timeout} s"
                )
            with self._finished:
                wait = (
                    delay if deadline is None else min(delay, max(deadline - time.monotonic(), 0))
                )
                self._finished.wait(wait)
            delay = min(delay * 2, 0.25)

    def list(
        self,
        *,
        workflow: str | None = None,
        status: str | Sequence[str] | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Instance]:
        """Instances, newest first, filtered by workflow, status(es) and state label."""
        statuses = [status] if isinstance(status, str) else status
        if statuses:
            statuses = [s.upper() for s in statuses]
            unknown = set(statuses) - set(InstanceStatus)
            if unknown:
                raise InvalidInput(
                    f"unknown status {sorted(unknown)[0]!r}; use one of "
                    + ", ".join(sorted(TERMINAL_STATUSES | ACTIVE_STATUSES))
                )
        rows = self.store.list_instances(
            workflow=workflow, statuses=statuses, state=state, limit=limit
        )
        return self._explained(rows)

    def _explained(self, rows: Sequence[Mapping[Any, Any]]) -> builtins.list[Instance]:
        """Instances that say why, when due, nothing runs them (``Instance.held_by``)."""
        held = self._serving.held_by(list(rows), lambda: self.flow.settings().paused_starts)
        loads = self.serializer.loads
        return [
            Instance.from_row(row, loads=loads, held_by=h)
            for row, h in zip(rows, held, strict=True)
        ]

    def history(self, instance_id: str) -> builtins.list[HistoryEvent]:
        """The instance's recorded operations in order."""
        self._stored(instance_id)
        loads = self.serializer.loads
        return [
            HistoryEvent.from_row(row, loads=loads) for row in self.store.load_history(instance_id)
        ]

    def attempts(self, instance_id: str) -> builtins.list[Attempt]:
        """The instance's failed step attempts."""
        self._stored(instance_id)
        return [Attempt.from_row(row) for row in self.store.load_attempts(instance_id)]

    def transitions(self, instance_id: str) -> builtins.list[Transition]:
        """The instance's state transitions in order."""
        self._stored(instance_id)
        return [Transition.from_row(row) for row in self.store.load_transitions(instance_id)]

    def worker(self, **options: Any) -> Worker:
        """A worker for this app (see :class:`daytwo.worker.Worker` for options)."""
        from daytwo.worker._worker import Worker

        return Worker(self, **options)

    def _worker_started(self, worker_id: str) -> None:
        """A worker of this app registered (it counts as live whatever its heartbeat)."""
        self._serving.worker_started(worker_id)

    def _worker_stopped(self, worker_id: str) -> None:
        self._serving.worker_stopped(worker_id)

    # -- in-process wake-ups --------------------------------------------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when this process starts, signals or cancels an instance."""
        self._listeners.append(listener)
        if isinstance(self.clock, FakeClock):
            self.clock.on_advance(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _notify_finished(self) -> None:
        with self._finished:
            self._finished.notify_all()


def _creating_module_directory() -> Path | None:
    """The directory of the file of the module that is creating an App (None: no file).

    The first frame outside daytwo's own package: for ``create_app(url)`` in
    ``daytwo.demo`` that is its caller. None for the REPL, ``python -c`` and notebooks,
    whose relative paths stay relative to the current directory.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "daytwo" and not module.startswith("daytwo."):
            file = frame.f_globals.get("__file__")
            return Path(file).resolve().parent if isinstance(file, str) else None
        frame = frame.f_back
    return None
