"""The application object: where workflows and steps are declared, and the composition root.

An :class:`App` holds the code (its registry), opens its database and owns the
:class:`~daytwo.Client` that every client method delegates to; it adds what needs the code:
checking a start's input against the workflow's signature, inline runs (:meth:`App.run`)
and workers (:meth:`App.worker`, over a :class:`~daytwo.worker.WorkerHost` it builds).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from daytwo._breaker_metrics import breaker_collector
from daytwo._breakers import BreakerActions, declare_breaker
from daytwo._bulk import BulkJob, BulkPreview
from daytwo._bulk_workflow import register_bulk_workflow
from daytwo._client import Client
from daytwo._database import Database, creating_module_directory
from daytwo._errors import InvalidInput
from daytwo._events import LocalEvents
from daytwo._explain import Explanation
from daytwo._extension import Extension
from daytwo._handles import HumanTasks, InstanceHandle
from daytwo._inline import INLINE_LEASE_SECONDS, InlineRuns
from daytwo._purge import PurgeReport
from daytwo._records import Attempt, HistoryEvent, Instance, Transition
from daytwo._selection import Selection
from daytwo._starts import check_priority, new_instance_id, new_row, outside_workflow
from daytwo.engine import (
    DEFAULT_RETRY,
    Clock,
    FailurePolicy,
    JsonSerializer,
    Registry,
    Retry,
    Runtime,
    Serializer,
    Step,
    SystemClock,
    WorkflowDefinition,
    check_name,
    failure_policy,
)
from daytwo.store import BreakerPolicy, FlowControl, Store
from daytwo.worker import Retention, RetentionService, check_period, retention_periods

if TYPE_CHECKING:
    from daytwo.worker import BackgroundService, Worker

__all__ = ["INLINE_LEASE_SECONDS", "App", "HumanTasks", "InstanceHandle", "new_instance_id"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E", bound=Extension)


class App:
    """A daytwo application: its workflows, its steps and its database.

    The database is opened on first use, so importing a module that creates an ``App``
    does not touch the disk. Which database: ``$DAYTWO_DATABASE`` if set, else
    ``database``, else ``sqlite:///daytwo.db`` (the command line's ``--database`` beats
    them all). A relative SQLite path in ``database`` is relative to the file of the module
    that creates the App, so every process importing it uses the same file;
    :attr:`database_url` is absolute.

    ``create``: whether this App may create daytwo's tables in an empty database (it may
    always upgrade an older daytwo database); ``False`` for one that must find an existing
    database. A process without the workflow code uses a :class:`~daytwo.Client` instead.

    ``extensions``: operations packages plugged into this app (see
    :class:`daytwo.Extension`; more with :meth:`use`). A package's own registration call
    adds its extension when needed: ``daytwo.slo.register(app, ...)`` adds the SLO one.

    ``retention``: how long ended instances are kept (a ``timedelta``, the default of every
    workflow, or a :class:`~daytwo.Retention` with archives and the log's, SLO buckets'
    and outbox's periods); None keeps everything. The app's workers enforce it.
    """

    def __init__(
        self,
        database: str | None = None,
        *,
        clock: Clock | None = None,
        serializer: Serializer | None = None,
        create: bool = True,
        extensions: Sequence[Extension] = (),
        retention: timedelta | Retention | None = None,
    ) -> None:
        if isinstance(retention, timedelta) or retention is None:
            retention = None if retention is None else Retention(instances=retention)
        self.retention: Retention | None = retention
        self._database = Database(
            database, create=create, relative_to=creating_module_directory(), owner="App"
        )
        self.clock: Clock = clock or SystemClock()
        self.serializer: Serializer = serializer or JsonSerializer()
        self.registry = Registry()
        #: In-process wake-ups of this app's workers and of callers waiting for results.
        self.events = LocalEvents(self.clock)
        #: The client every client method of the App delegates to (same database,
        #: serializer, clock and events; the app's code names for flow-control checks).
        self.client = Client._of_app(
            self._database, self.serializer, self.clock, self.events, self.registry
        )
        self.tasks: HumanTasks = self.client.tasks
        self.breakers: BreakerActions = self.client.breakers
        self._runtime: Runtime | None = None
        self._inline = InlineRuns(self)
        self._extensions: dict[str, Extension] = {}
        register_bulk_workflow(self)  # every worker serves the bulk jobs (dogfood)
        for extension in extensions:
            self.use(extension)

    # -- set-up ---------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """The absolute URL of the app's database (show it with ``display_url``)."""
        return self._database.url

    @database_url.setter
    def database_url(self, url: str) -> None:
        # Set at run time (by the command line's --database, a test): a relative SQLite
        # path is relative to the current directory.
        self._database.url = url

    @property
    def create(self) -> bool:
        """Whether opening the database may create daytwo's tables in an empty one."""
        return self._database.create

    @create.setter
    def create(self, value: bool) -> None:
        self._database.create = value

    @property
    def database_opened(self) -> bool:
        """Whether the database has been opened (it is on first use)."""
        return self._database.opened

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) on first use."""
        return self._database.store

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
        return self.client.flow

    def close(self) -> None:
        """Release what the extensions hold, then the client (its result poller and the
        database connections)."""
        for extension in self._extensions.values():
            extension.close()
        self.client.close()

    # -- extensions -----------------------------------------------------------------------

    def use(self, extension: Extension) -> Extension:
        """Plug an operations package into this app (see :class:`daytwo.Extension`).

        One extension per package name: a second one of the same name is refused.
        """
        if not isinstance(extension, Extension) or not extension.name:
            raise InvalidInput(
                f"{extension!r} is not a daytwo.Extension with a name; subclass "
                "daytwo.Extension and set its name"
            )
        if extension.name in self._extensions:
            raise InvalidInput(
                f"this app already uses the {extension.name!r} extension; use it once"
            )
        self._extensions[extension.name] = extension
        extension.attach(self)
        return extension

    def collectors(self) -> builtins.list[Any]:
        """The core's /metrics collectors (every /metrics endpoint of the app serves them
        beside its extensions'): the circuit breakers' states."""
        return [breaker_collector(self.store)]

    @property
    def extensions(self) -> builtins.list[Extension]:
        """The extensions plugged into this app, in the order they were added."""
        return list(self._extensions.values())

    def extension(self, kind: type[E]) -> E:
        """This app's extension of type ``kind``, added (with its defaults) if missing."""
        for extension in self._extensions.values():
            if isinstance(extension, kind):
                return extension
        created = kind()
        self.use(created)
        return created

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
        on_failure: FailurePolicy | str | None = None,
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
        on_failure: FailurePolicy | str | None = None,
    ) -> Any:
        """Declare a step: its outcome is recorded, its failures retried per ``retry``.

        ``dependency`` names the external system the step calls (for per-dependency
        metrics); ``timeout`` bounds one attempt in seconds; ``on_failure`` what failing
        for good does (:class:`FailurePolicy`; default: the workflow's).
        """
        policy = None if on_failure is None else failure_policy(on_failure)
        if timeout is not None and timeout <= 0:
            raise InvalidInput(f"step timeout must be a positive number of seconds (got {timeout})")

        def register(function: Callable[..., Any]) -> Step[..., Any]:
            step = Step(
                function,
                name=name or function.__name__,
                retry=retry or DEFAULT_RETRY,
                dependency=dependency,
                timeout=timeout,
                on_failure=policy,
            )
            self.registry.add_step(step)
            return step

        return register(fn) if fn is not None else register

    def circuit_breaker(
        self, dependency: str, policy: BreakerPolicy | None = None
    ) -> BreakerPolicy:
        """Declare a circuit breaker on calls to ``dependency`` (see :class:`BreakerPolicy`):
        the default a worker stores; an operator's ``daytwo breaker set`` wins over it."""
        return declare_breaker(self.registry, dependency, policy)

    def workflow(
        self,
        *,
        name: str | None = None,
        version: str = "1",
        queue: str = "default",
        priority: int = 0,
        on_failure: FailurePolicy | str = FailurePolicy.COMPENSATE,
        retention: timedelta | None = None,
    ) -> Callable[[F], F]:
        """Declare a workflow: ``fn(ctx, input)``; its instances are pinned to ``version``.

        New instances wait in ``queue`` (served by workers started with ``--queue``) with
        ``priority`` (lower first; both can be overridden per start). ``on_failure``: what a
        step that fails for good does (:class:`FailurePolicy`: compensate, or park).
        ``retention``: how long its ended instances are kept (default: the App's
        ``retention``).
        """
        check_name("queue", queue)
        check_priority(priority)
        policy = failure_policy(on_failure)
        check_period("workflow retention", retention)
        kept = None if retention is None else retention.total_seconds()

        def register(function: F) -> F:
            check_name("workflow", name or function.__name__)
            if not isinstance(version, str) or not version.strip():
                raise InvalidInput(f"workflow version must be a non-empty string (got {version!r})")
            self.registry.add_workflow(
                WorkflowDefinition(
                    name or function.__name__,
                    version,
                    function,
                    queue,
                    priority,
                    policy,
                    retention=kept,
                )
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
        # The registry refuses a name this code does not have; the client starts it from
        # the definition (input checked against its signature, its queue and priority).
        definition = self._definition(workflow, version)
        return self.client.start(
            definition.name, input, id=id, version=version, queue=queue, priority=priority
        )

    def start_many(
        self,
        workflow: str | Callable[..., Any],
        inputs: Iterable[Any],
        *,
        ids: Iterable[str] | None = None,
        version: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> list[InstanceHandle]:
        """Durably start one instance per input in one commit (see :meth:`Client.start_many`).

        Every input is checked against the workflow's signature first: one it cannot take
        stores none of them.
        """
        outside_workflow("app.start_many()", "start the instances again")
        definition = self._definition(workflow, version)
        return self.client.start_many(
            definition.name, inputs, ids=ids, version=version, queue=queue, priority=priority
        )

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

    # -- client operations (the app's Client's) ------------------------------------------

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

    def worker(self, **options: Any) -> Worker:
        """A worker for this app (see :class:`daytwo.worker.Worker` for options).

        It runs the background services of every extension (the SLO evaluator of
        registered objectives, ...) before those given as ``services=``: ``daytwo
        worker`` starts exactly this.
        """
        from daytwo.worker import Worker

        return Worker(_AppWorkerHost(self), **options)

    # -- in-process wake-ups --------------------------------------------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when this process starts, signals or cancels an instance."""
        self.events.add_listener(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        self.events.remove_listener(listener)


class _AppWorkerHost:
    """An App as its workers see it (:class:`~daytwo.worker.WorkerHost`); read lazily, so
    that ``app.worker()`` opens no database before the worker starts."""

    def __init__(self, app: App) -> None:
        self._app = app

    @property
    def store(self) -> Store:
        return self._app.store

    @property
    def clock(self) -> Clock:
        return self._app.clock

    @property
    def registry(self) -> Registry:
        return self._app.registry

    @property
    def runtime(self) -> Runtime:
        return self._app.runtime

    @property
    def flow(self) -> FlowControl:
        return self._app.flow

    @property
    def services(self) -> Sequence[BackgroundService]:
        # Asked at every worker start: what the extensions registered until then.
        from daytwo.worker import OutboxDelivery, TaskDeadlines

        extensions = self._app.extensions
        # Core: reminders and escalations of human tasks (one process per cluster).
        services: list[BackgroundService] = [TaskDeadlines(self.store, self.clock)]
        services += [s for extension in extensions for s in extension.services()]
        for extension in extensions:
            services += [
                OutboxDelivery(self.store, self.clock, subscriber)
                for subscriber in extension.subscribers()
            ]
        retention = self._app.retention or Retention()
        periods = retention_periods(self.registry, retention.instances)
        if periods or retention.prunes:
            services.append(RetentionService(self.store, self.clock, retention, periods))
        return services

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._app.events.add_listener(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        self._app.events.remove_listener(listener)

    def run_finished(self, instance_id: str, ended: bool) -> None:
        self._app.events.run_finished(instance_id, ended)

    def worker_started(self, worker_id: str) -> None:
        # It counts as live for this app whatever its heartbeat (a fake clock runs ahead).
        self._app.client.serving.worker_started(worker_id)

    def worker_stopped(self, worker_id: str) -> None:
        self._app.client.serving.worker_stopped(worker_id)
