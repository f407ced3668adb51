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

from daytwo._app_client import ClientMethods
from daytwo._app_host import AppWorkerHost
from daytwo._breaker_metrics import breaker_collector
from daytwo._breakers import BreakerActions, declare_breaker
from daytwo._bulk_workflow import register_bulk_workflow
from daytwo._client import Client
from daytwo._database import Database, creating_module_directory
from daytwo._errors import InvalidInput
from daytwo._events import LocalEvents
from daytwo._extension import Extension
from daytwo._handles import HumanTasks, InstanceHandle
from daytwo._inline import INLINE_LEASE_SECONDS, InlineRuns
from daytwo._schedules import ScheduleActions, ScheduleDeclarations
from daytwo._starts import check_priority, new_instance_id, new_row, outside_workflow
from daytwo._timeouts import check_timeout
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
from daytwo.worker import Retention, check_period

if TYPE_CHECKING:
    from daytwo._async_client import AsyncClient
    from daytwo.worker import Worker

__all__ = ["INLINE_LEASE_SECONDS", "App", "HumanTasks", "InstanceHandle", "new_instance_id"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E", bound=Extension)


class App(ClientMethods, ScheduleDeclarations):
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
        self.schedules: ScheduleActions = self.client.schedules
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

    def async_client(self) -> AsyncClient:
        """This app's client for async code (FastAPI handlers): ``await app.async_client()
        .start(checkout, order)``; it takes workflow functions as :meth:`start` does."""
        from daytwo._async_client import AsyncClient

        return AsyncClient(self)

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
        self._inline.step_loop.close()
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
        timeout: timedelta | float | None = None,
    ) -> Callable[[F], F]:
        """Declare a workflow: ``fn(ctx, input)``; its instances are pinned to ``version``.

        New instances wait in ``queue`` (served by workers started with ``--queue``) with
        ``priority`` (lower first; both can be overridden per start). ``on_failure``: what a
        step that fails for good does (:class:`FailurePolicy`: compensate, or park).
        ``retention``: how long its ended instances are kept (default: the App's
        ``retention``). ``timeout``: how long an instance may take from its start (a
        timedelta or seconds); one still active then fails :class:`DeadlineExceeded` (and
        compensates or parks by ``on_failure``).
        """
        check_name("queue", queue)
        check_priority(priority)
        policy = failure_policy(on_failure)
        check_period("workflow retention", retention)
        kept = None if retention is None else retention.total_seconds()
        within = check_timeout(timeout, "@app.workflow(timeout=...)")

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
                    timeout=within,
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
        timeout: timedelta | float | None = None,
    ) -> InstanceHandle:
        """Durably start an instance for a worker to run; returns at once.

        Idempotent on ``id``: starting an id that exists returns a handle to the existing
        instance and never runs it twice; a start under that id with another workflow,
        version or input raises :class:`InstanceConflict`. ``queue``, ``priority`` and
        ``timeout`` (the instance's deadline, from now) default to the workflow's.
        """
        outside_workflow("app.start()", "start a new instance")
        # The registry refuses a name this code does not have; the client starts it from
        # the definition (input checked against its signature, its queue and priority).
        definition = self._definition(workflow, version)
        return self.client.start(
            definition.name, input, id=id, version=version, queue=queue, priority=priority,
            timeout=timeout,
        )  # fmt: skip

    def start_many(
        self,
        workflow: str | Callable[..., Any],
        inputs: Iterable[Any],
        *,
        ids: Iterable[str] | None = None,
        version: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        timeout: timedelta | float | None = None,
    ) -> list[InstanceHandle]:
        """Durably start one instance per input in one commit (see :meth:`Client.start_many`).

        Every input is checked against the workflow's signature first: one it cannot take
        stores none of them.
        """
        outside_workflow("app.start_many()", "start the instances again")
        definition = self._definition(workflow, version)
        return self.client.start_many(
            definition.name, inputs, ids=ids, version=version, queue=queue, priority=priority,
            timeout=timeout,
        )  # fmt: skip

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

    def worker(self, **options: Any) -> Worker:
        """A worker for this app (see :class:`daytwo.worker.Worker` for options).

        It runs the background services of every extension (the SLO evaluator of
        registered objectives, ...) before those given as ``services=``: ``daytwo
        worker`` starts exactly this.
        """
        from daytwo.worker import Worker

        return Worker(AppWorkerHost(self), **options)

    # -- in-process wake-ups --------------------------------------------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when this process starts, signals or cancels an instance."""
        self.events.add_listener(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        self.events.remove_listener(listener)
