"""The client: everything done to instances, tasks and flow control, given a database.

A :class:`Client` needs no workflow code: the CLI, the HTTP API and any other process use
one to start workflows by name, signal, cancel and read instances, work the human-task
inbox and change flow control. An :class:`~daytwo.App` owns one over its own database and
delegates its client methods to it, so each action has one implementation; the App adds
what needs the code (checking an input against the workflow's signature, inline runs).
"""

from __future__ import annotations

import builtins
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from daytwo import _bulk, _instance_pages, _restarts
from daytwo._actions import ClientActions
from daytwo._audit import AuditEntry, AuditTarget, AuditTrail, OperatorAction, resolve_actor
from daytwo._breakers import BreakerActions
from daytwo._database import Database, creating_module_directory
from daytwo._errors import InstanceNotFound, InvalidInput, NotRunnable, WorkflowFailed
from daytwo._events import LocalEvents
from daytwo._explain import Explanation, explain
from daytwo._family import family_of
from daytwo._handles import HumanTasks, InstanceHandle
from daytwo._links import links_for
from daytwo._live_workers import WorkerInfo, live_workers
from daytwo._purge import PurgeReport, purge
from daytwo._records import Attempt, HistoryEvent, Instance, Transition
from daytwo._registered import RegisteredWorkflow, registered_workflow, registered_workflows
from daytwo._results import ResultWaits, outcome_of
from daytwo._schedules import ScheduleActions
from daytwo._serving import Serving, catalog
from daytwo._starts import (
    RowBuilder,
    check_same_start,
    check_start_options,
    outside_workflow,
    rows_by_name,
    rows_from_code,
)
from daytwo._timeouts import check_timeout
from daytwo.engine import (
    Clock,
    JsonSerializer,
    Registry,
    Serializer,
    SystemClock,
    WorkflowDefinition,
    check_name,
)
from daytwo.store import (
    ACTIVE_STATUSES,
    DEFAULT_BATCH,
    TERMINAL_STATUSES,
    FlowControl,
    InstanceRow,
    InstanceStatus,
    PurgeRun,
    ServedWorkflow,
    StartOutcome,
    Store,
    display_url,
    instance_facts,
)

__all__ = ["Client", "outcome"]

#: Every status an instance can have, for checking ``list(status=...)``.
STATUSES = TERMINAL_STATUSES | ACTIVE_STATUSES


class Client(ClientActions):
    """Start, signal, cancel, act on (retry, skip, ... in ``_actions.py``) and read
    instances in a daytwo database, without the code.

    Which database: ``$DAYTWO_DATABASE`` if set, else ``database``, else
    ``sqlite:///daytwo.db`` (a relative SQLite path in ``database`` is relative to the file
    of the module creating the Client, as for an App). The database must exist: a Client
    never creates daytwo's tables (it upgrades an older daytwo database like every App).
    ``serializer`` must be the one the workflows' App uses (default JSON): it encodes
    inputs, payloads and task results and decodes what instances stored.
    """

    def __init__(
        self,
        database: str | None = None,
        *,
        serializer: Serializer | None = None,
        clock: Clock | None = None,
    ) -> None:
        where = Database(
            database, create=False, relative_to=creating_module_directory(), owner="Client"
        )
        clock = clock or SystemClock()
        self._setup(where, serializer or JsonSerializer(), clock, LocalEvents(clock), None)

    @classmethod
    def _of_app(
        cls,
        database: Database,
        serializer: Serializer,
        clock: Clock,
        events: LocalEvents,
        registry: Registry,
    ) -> Client:
        """The client of an App: its database, serializer, clock and in-process events,
        and its code (workflows it starts as the App does, names for flow control)."""
        client = cls.__new__(cls)
        client._setup(database, serializer, clock, events, registry)
        client.caller = "app"
        return client

    def _setup(
        self,
        database: Database,
        serializer: Serializer,
        clock: Clock,
        events: LocalEvents,
        registry: Registry | None,
    ) -> None:
        self._database = database
        self.serializer = serializer
        self.clock = clock
        #: In-process wake-ups of this process's workers and waiters.
        self.events = events
        #: How calls are named in the refusal of a call made by workflow code.
        self.caller = "client"
        self.tasks = HumanTasks(self)
        #: The audit log of operator actions.
        self.audit = AuditTrail(lambda: self.store, self.clock.now)
        #: The circuit breakers per dependency (list, get, configure, open, close, reset).
        self.breakers = BreakerActions(lambda: self.flow, self.audit)
        #: The durable schedules (list, get, pause, resume, trigger).
        self.schedules = ScheduleActions(self, lambda: self.store, self.clock.now, self.audit)
        #: The code of the App owning this client (None: a client without code).
        self._registry = registry
        self._flow: FlowControl | None = None
        # Who serves what: explains due instances nothing runs, warns at unserved starts.
        self.serving = Serving(lambda: self.store, self.clock.now)
        #: The callers of result(), with their one shared poller.
        self.result_waits = ResultWaits(lambda: self.store)
        events.add_ended_listener(self.result_waits.instance_ended)

    # -- the database ---------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """The absolute URL of the database (show it with ``display_url``)."""
        return self._database.url

    @database_url.setter
    def database_url(self, url: str) -> None:
        # The command line's --database: relative to the current directory.
        self._database.url = url

    @property
    def store(self) -> Store:
        """The store, opened on first use (a missing or empty database is refused)."""
        return self._database.store

    @property
    def flow(self) -> FlowControl:
        """Flow control: queue limits, pauses and dependency limits (shared by all workers)."""
        if self._flow is None:
            registry = self._registry
            local = None if registry is None else (lambda: catalog(registry))
            self._flow = FlowControl(self.store, self.clock.now, local)
        return self._flow

    def close(self) -> None:
        """Stop the poller of result waits and release database connections."""
        self.result_waits.close()
        self._database.close()

    # -- starting -------------------------------------------------------------------------

    def start(
        self,
        workflow: str,
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        timeout: timedelta | float | None = None,
    ) -> InstanceHandle:
        """Durably start an instance of the workflow named ``workflow``; returns at once.

        ``version``, ``queue`` and ``priority`` default to what the workers registered: the
        newest version a live worker serves, with its queue, priority and ``timeout`` (the
        deadline, from now: a timedelta or seconds). A workflow that
        no worker registered is refused unless ``version`` is given. Idempotent on ``id``
        as :meth:`App.start`. The input is checked by the worker that runs it (this process
        has no code to check it against; an App's client starts the workflows of its own
        code as :meth:`App.start` does).
        """
        outside_workflow(f"{self.caller}.start()", "start a new instance")
        row = self._rows(workflow, version, queue, priority, timeout)(input, id)
        return self._insert(row, version)

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
        """Durably start one instance per input, all in one commit; a handle per input.

        For imports and fan-outs: thousands of starts cost about what one does. ``ids``
        (as many as inputs) makes each start idempotent as :meth:`start`; an id that exists
        with the same workflow and input gives a handle with ``created=False``. All or
        nothing: an input the workflow cannot take, or an id started otherwise
        (:class:`InstanceConflict`), stores none of them.
        """
        outside_workflow(f"{self.caller}.start_many()", "start the instances again")
        values = builtins.list(inputs)
        names: builtins.list[str | None] = [None] * len(values)
        if ids is not None:
            names = builtins.list(ids)
            if len(names) != len(values):
                raise InvalidInput(
                    f"start_many got {len(values)} inputs but {len(names)} ids; give one id "
                    "per input, or none"
                )
        row_of = self._rows(workflow, version, queue, priority, timeout)
        rows = [row_of(value, name) for value, name in zip(values, names, strict=True)]
        if not rows:
            return []

        def same_starts(outcomes: Sequence[StartOutcome]) -> None:
            for row, (created, existing) in zip(rows, outcomes, strict=True):
                if not created:
                    check_same_start(self.serializer, existing, row, version)

        outcomes = self.store.insert_instances(rows, check=same_starts)
        if any(created for created, _ in outcomes):
            self.events.changed()
            self.serving.warn_if_unserved(rows[0])
        return [InstanceHandle(self, row["id"], created=created) for created, row in outcomes]

    def _rows(
        self,
        workflow: str,
        version: str | None,
        queue: str | None,
        priority: int | None,
        timeout: timedelta | float | None = None,
    ) -> RowBuilder:
        """Checks the options of a start; returns what builds a row per (input, id)."""
        check_start_options(workflow, version, queue, priority)
        within = check_timeout(timeout, "the start's timeout=")
        definition = self._local(workflow, version)
        if definition is not None:  # the code is here: defaults and input checks from it
            return rows_from_code(
                definition, queue, priority, self.serializer, self.clock.now, within
            )
        served = registered_workflow(self.store, self.clock.now(), workflow, version)
        if served is None:  # a version no worker registered (yet): the given defaults
            assert version is not None
            served = ServedWorkflow(workflow, version, "default", 0)
        return rows_by_name(served, queue, priority, self.serializer, self.clock.now, within)

    def _local(self, workflow: str, version: str | None) -> WorkflowDefinition | None:
        """The owning App's definition of ``workflow`` (``version``), if it has one."""
        versions = {} if self._registry is None else self._registry.workflows.get(workflow, {})
        if not versions or (version is not None and version not in versions):
            return None
        assert self._registry is not None
        return self._registry.workflow(workflow, version)

    def _insert(self, row: dict[str, Any], version: str | None) -> InstanceHandle:
        """Store a new instance's row (an existing id: the same start, or a conflict)."""
        created, existing = self.store.insert_instance(row)
        if created:
            self.events.changed()
            self.serving.warn_if_unserved(row)  # stored all the same: durable first
        else:
            check_same_start(self.serializer, existing, row, version)
        return InstanceHandle(self, existing["id"], created=created)

    # -- acting on instances --------------------------------------------------------------

    def handle(self, instance_id: str) -> InstanceHandle:
        """A handle to an existing instance."""
        self._stored(instance_id)
        return InstanceHandle(self, instance_id)

    def signal(
        self, instance_id: str, name: str, payload: Any = None, *, sent_by: str | None = None
    ) -> None:
        """Deliver a signal; the instance gets it when it waits for ``name`` (or at once)."""
        outside_workflow(f"{self.caller}.signal()", "send the signal again")
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
        self.events.changed()

    def cancel(
        self, instance_id: str, reason: str = "cancelled by operator", *, by: str | None = None
    ) -> None:
        """Cancel an active instance: it stops at its next durable point and compensates.

        A cancel is a request that the instance honours at its next durable point, its end
        included: an instance whose last step is running when the cancel arrives does not
        succeed, it compensates and ends CANCELLED. It is refused (:class:`NotRunnable`)
        when the instance has ended, or is already compensating after a failure (it then
        ends COMPENSATED or COMPENSATION_FAILED by itself). Audited: ``by`` (default
        :func:`resolve_actor`) and ``reason`` are recorded with the outcome.
        """
        outside_workflow(f"{self.caller}.cancel()", "cancel again")
        entry = AuditEntry(
            resolve_actor(by), OperatorAction.CANCEL, AuditTarget.INSTANCE, instance_id, reason
        )
        with self.audit.refusals(entry):
            before = self.store.request_cancel(instance_id, reason, self.clock.now(), entry)
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
                    f"({failure.get('type')}: {failure.get('message')}); it ends COMPENSATED "
                    "or COMPENSATION_FAILED by itself"
                )
        self.events.changed()

    # Restart and fork (_restarts.py), bulk actions (_bulk.py): one implementation each.
    restart = _restarts.restart
    fork = _restarts.fork
    bulk = _bulk.bulk
    bulk_job = _bulk.bulk_job
    bulk_jobs = _bulk.bulk_jobs
    bulk_items = _bulk.bulk_items
    #: Keyset pages of instances (the HTTP API's listing, ``_instance_pages.py``).
    page = _instance_pages.page

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
        """Delete the instances that ended before ``before`` (``"90d"``, an ISO date, a
        datetime, a timedelta ago, epoch seconds) in batches of ``batch``; a dry run (count,
        oldest, newest) unless ``dry_run=False``. ``archive_dir``: gzip JSON Lines of each
        batch, written before it is deleted. ``force``: a workflow name nothing knows.
        ``progress`` is called after each batch. Audited (``by``, ``reason``, the count).
        """
        return purge(
            self, before, workflow=workflow, archive_dir=archive_dir, dry_run=dry_run,
            force=force, batch=batch, reason=reason, by=by, progress=progress,
        )  # fmt: skip

    # -- reading --------------------------------------------------------------------------

    def get(self, instance_id: str) -> Instance:
        """The instance with that id, with its links; raises :class:`InstanceNotFound`."""
        row = self._stored(instance_id)
        instance = self.explained([row])[0]
        parent, children = family_of(self.store, instance_id, row.get("parent_id"))
        return dataclasses.replace(
            instance, links=links_for(self.store, instance_id), parent=parent, children=children
        )

    status = get

    def workflow_of(self, instance_id: str) -> str:
        """The workflow name of an instance (one indexed read); :class:`InstanceNotFound`."""
        return str(self._stored(instance_id)["workflow"])

    def _stored(self, instance_id: str) -> InstanceRow:
        """The instance row as stored (no explanation of why nothing runs it, which reads
        the worker registrations); raises :class:`InstanceNotFound`."""
        row = self.store.get_instance(instance_id)
        if row is None:
            raise InstanceNotFound(instance_id)
        return row

    def result(self, instance_id: str, timeout: float | None = None) -> Any:
        """Wait for the instance to end and return its output.

        Raises :class:`WorkflowFailed` if it ended otherwise, :class:`TimeoutError` if
        ``timeout`` seconds pass first. Runs of this process hand their ends to the wait at
        once; ends in other processes are seen by polling (within a quarter of a second).
        All the waits of a client, in any number of threads, share one poller thread and
        its one query per round.
        """
        row = self.result_waits.wait(instance_id, timeout)
        if row["status"] in TERMINAL_STATUSES:
            return outcome_of(row, self.serializer.loads)
        raise TimeoutError(
            f"instance {instance_id!r} is still {row['status']} "
            f"(state {row['state']!r}) after {timeout} s"
        )

    def list(
        self,
        *,
        workflow: str | None = None,
        status: str | Sequence[str] | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Instance]:
        """Instances, newest first, filtered by workflow, status(es) and state label."""
        rows = self.store.list_instances(
            workflow=workflow, statuses=self.checked_statuses(status), state=state, limit=limit
        )
        return self.explained(rows)

    def checked_statuses(self, status: str | Sequence[str] | None) -> builtins.list[str] | None:
        """``status`` of a listing as upper-case names; an unknown one is refused."""
        statuses = [status] if isinstance(status, str) else status
        if not statuses:
            return None
        statuses = [s.upper() for s in statuses]
        unknown = set(statuses) - STATUSES
        if unknown:
            raise InvalidInput(
                f"unknown status {sorted(unknown)[0]!r}; use one of " + ", ".join(sorted(STATUSES))
            )
        return statuses

    def explained(self, rows: Sequence[Mapping[Any, Any]]) -> builtins.list[Instance]:
        """Instances that say why, when due, nothing runs them (``Instance.held_by``)."""
        held = self.serving.held_by(list(rows), lambda: self.flow.settings().paused_starts)
        return [
            Instance.from_row(row, held_by=h, loads=self.serializer.loads)
            for row, h in zip(rows, held, strict=True)
        ]

    def history(self, instance_id: str) -> builtins.list[HistoryEvent]:
        """The instance's recorded operations in order."""
        self._stored(instance_id)
        return [
            HistoryEvent.from_row(row, loads=self.serializer.loads)
            for row in self.store.load_history(instance_id)
        ]

    def attempts(self, instance_id: str) -> builtins.list[Attempt]:
        """The instance's failed step attempts."""
        self._stored(instance_id)
        return [Attempt.from_row(row) for row in self.store.load_attempts(instance_id)]

    def transitions(self, instance_id: str) -> builtins.list[Transition]:
        """The instance's state transitions in order."""
        self._stored(instance_id)
        return [Transition.from_row(row) for row in self.store.load_transitions(instance_id)]

    def workflows(self) -> builtins.list[RegisteredWorkflow]:
        """The workflow versions the workers registered (what :meth:`start` can start by
        name, and with which defaults), by name then newest version first."""
        return registered_workflows(self.store, self.clock.now())

    def explain(self, instance_id: str) -> Explanation:
        """What the instance waits for and why, and the operator actions that apply now
        (``daytwo explain ID``); raises :class:`InstanceNotFound`."""
        facts = instance_facts(self.store, instance_id, self.clock.now())
        if facts is None:
            raise InstanceNotFound(instance_id)
        [instance] = self.explained([facts.row])
        return explain(facts, instance, self.clock.now())

    def workers(self, *, stopped: bool = False) -> builtins.list[WorkerInfo]:
        """The workers that have not stopped, newest first (``stopped``: the latest stopped
        ones too), with the instances running under each one's lease."""
        return live_workers(self.store, self.clock.now(), stopped=stopped)

    def __repr__(self) -> str:
        return f"<daytwo.Client {display_url(self.database_url)}>"


def outcome(instance: Instance) -> Any:
    """The output of an ended instance, or :class:`WorkflowFailed`."""
    if instance.status is InstanceStatus.SUCCEEDED:
        return instance.output
    raise WorkflowFailed.of(instance.id, instance.status, instance.error)
