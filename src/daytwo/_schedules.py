"""Durable schedules as the code declares them (``@app.schedule``) and as a Client acts on
them (``client.schedules``: list, get, pause, resume, trigger).

A declaration is checked at once (cron expression, time zone, cron or ``every=``, the
input against the workflow's signature) and kept in the registry; a worker stores it when
it starts (see ``store/_schedules.py``). Every action takes ``reason=`` and ``by=`` and is
audited, done or refused.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from daytwo._audit import AuditEntry, AuditTarget, AuditTrail, OperatorAction, resolve_actor
from daytwo._errors import InvalidInput
from daytwo.engine import JsonSerializer, Registry, Serializer, check_name
from daytwo.store import (
    Cadence,
    CatchUp,
    Overlap,
    Schedules,
    ScheduleSpec,
    ScheduleView,
    Store,
)

if TYPE_CHECKING:
    from daytwo._client import Client
    from daytwo._handles import InstanceHandle

__all__ = [
    "DEFAULT_MAX_CATCH_UP",
    "ScheduleActions",
    "ScheduleDeclarations",
    "cadence",
    "declare_schedule",
    "scheduled_tick",
]

_F = TypeVar("_F", bound=Callable[..., Any])

#: How many missed ticks ``catch_up=CatchUp.ALL`` starts at most by default.
DEFAULT_MAX_CATCH_UP = 10
#: A schedule's name leaves room for the tick in its instance ids (200 characters at most).
_MAX_NAME = 150


def cadence(cron: str | None, every: timedelta | None, timezone: str) -> Cadence:
    """The checked cadence of a declaration (InvalidInput names the fix)."""
    if every is not None and not isinstance(every, timedelta):
        raise InvalidInput(
            f"a schedule's every= must be a datetime.timedelta (got {type(every).__name__})"
        )
    if cron is not None and not isinstance(cron, str):
        raise InvalidInput(f"a cron expression must be a string (got {type(cron).__name__})")
    return Cadence(cron, None if every is None else every.total_seconds(), timezone)


def declare_schedule(
    registry: Registry,
    serializer: Serializer,
    workflow: str | Callable[..., Any],
    when: Cadence,
    *,
    name: str | None,
    catch_up: CatchUp | str,
    max_catch_up: int,
    overlap: Overlap | str,
    input: Any,
) -> ScheduleSpec:
    """Check a schedule of ``workflow`` and keep it in ``registry``; returns it."""
    workflow_name = (
        workflow if isinstance(workflow, str) else getattr(workflow, "__daytwo_workflow__", None)
    )
    if workflow_name is None:
        raise InvalidInput(
            f"{workflow!r} is not a workflow; put @app.schedule(...) above @app.workflow() "
            "(or pass workflow= a declared workflow)"
        )
    definition = registry.workflow(workflow_name)
    schedule = check_name("schedule", name or definition.name)
    if len(schedule) > _MAX_NAME:
        raise InvalidInput(
            f"schedule name {schedule!r} is longer than {_MAX_NAME} characters; pass a "
            "shorter name="
        )
    if schedule in registry.schedules:
        raise InvalidInput(
            f"a schedule named {schedule!r} is declared twice; pass name= to tell them apart"
        )
    try:
        policy, overlapping = CatchUp(catch_up), Overlap(overlap)
    except ValueError:
        raise InvalidInput(
            f"catch_up must be one of {', '.join(CatchUp)} and overlap one of "
            f"{', '.join(Overlap)} (got {catch_up!r}, {overlap!r}); use daytwo.CatchUp and "
            "daytwo.Overlap"
        ) from None
    if not isinstance(max_catch_up, int) or max_catch_up < 1:
        raise InvalidInput(f"max_catch_up must be a positive integer (got {max_catch_up!r})")
    text = serializer.dumps(input, f"the input of schedule {schedule!r}")
    definition.signature.check(input, text, type(serializer) is JsonSerializer)
    spec = ScheduleSpec(
        name=schedule,
        workflow=definition.name,
        version=definition.version,
        queue=definition.queue,
        priority=definition.priority,
        cadence=when,
        catch_up=policy,
        max_catch_up=max_catch_up,
        overlap=overlapping,
        input_text=text,
        timeout=definition.timeout,
    )
    registry.schedules[schedule] = spec
    return spec


def scheduled_tick(instance_id: str) -> datetime | None:
    """The tick (UTC) that an instance started by a schedule's cadence stands for, read
    from its id ``schedule:NAME:2026-01-01T02:00:00Z``; None for any other instance
    (a triggered one's id is ``schedule:NAME:trigger:KEY``)."""
    if not instance_id.startswith("schedule:") or instance_id[-21:-20] != ":":
        return None
    try:
        tick = datetime.strptime(instance_id[-20:], "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return tick.replace(tzinfo=UTC)


class ScheduleDeclarations:
    """``app.schedule``: the App's declaration of schedules (a mixin of :class:`~daytwo.App`,
    kept here so that app.py stays the composition root)."""

    registry: Registry
    serializer: Serializer

    @overload
    def schedule(
        self,
        cron: str | None = None,
        /,
        *,
        every: timedelta | None = None,
        timezone: str = "UTC",
        name: str | None = None,
        catch_up: CatchUp | str = CatchUp.ONE,
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
        overlap: Overlap | str = Overlap.SKIP,
        input: Any = None,
        workflow: None = None,
    ) -> Callable[[_F], _F]: ...

    @overload
    def schedule(
        self,
        cron: str | None = None,
        /,
        *,
        every: timedelta | None = None,
        timezone: str = "UTC",
        name: str | None = None,
        catch_up: CatchUp | str = CatchUp.ONE,
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
        overlap: Overlap | str = Overlap.SKIP,
        input: Any = None,
        workflow: str | Callable[..., Any],
    ) -> ScheduleSpec: ...

    def schedule(
        self,
        cron: str | None = None,
        /,
        *,
        every: timedelta | None = None,
        timezone: str = "UTC",
        name: str | None = None,
        catch_up: CatchUp | str = CatchUp.ONE,
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
        overlap: Overlap | str = Overlap.SKIP,
        input: Any = None,
        workflow: str | Callable[..., Any] | None = None,
    ) -> Callable[[_F], _F] | ScheduleSpec:
        """Start a workflow on a schedule: ``cron`` (five fields, in ``timezone``) or
        ``every=`` (absolute time); stack it above ``@app.workflow()``, or pass
        ``workflow=`` (then it returns the :class:`~daytwo.store.ScheduleSpec`).

        ``catch_up``: what ticks missed while no worker ran start (:class:`CatchUp`;
        ``max_catch_up`` bounds ALL); ``overlap``: whether a tick starts while the previous
        instance runs (:class:`Overlap`); ``input``: every instance's input. Each tick
        starts one instance cluster-wide, id ``schedule:NAME:TICK`` (see the README).
        """
        when = cadence(cron, every, timezone)

        def register(function: _F) -> _F:
            declare_schedule(
                self.registry, self.serializer, function, when, name=name, catch_up=catch_up,
                max_catch_up=max_catch_up, overlap=overlap, input=input,
            )  # fmt: skip
            return function

        if workflow is not None:
            return declare_schedule(
                self.registry, self.serializer, workflow, when, name=name, catch_up=catch_up,
                max_catch_up=max_catch_up, overlap=overlap, input=input,
            )  # fmt: skip
        return register


class ScheduleActions:
    """The schedules of a database: ``client.schedules``."""

    def __init__(
        self,
        client: Client,
        store: Callable[[], Store],
        now: Callable[[], float],
        audit: AuditTrail,
    ) -> None:
        self._client = client
        self._store = store
        self._now = now
        self._audit = audit

    def _schedules(self) -> Schedules:
        return Schedules(self._store(), self._now)

    def list(self) -> builtins.list[ScheduleView]:
        """Every stored schedule (orphaned ones too), by name."""
        return self._schedules().list()

    def get(self, name: str) -> ScheduleView:
        """One schedule with its recent ticks; an unknown name is
        :class:`~daytwo.ScheduleNotFound` (it names the known ones)."""
        return self._schedules().get(name)

    def pause(self, name: str, *, reason: str | None = None, by: str | None = None) -> ScheduleView:
        """Stop starting ``name``'s ticks until it is resumed (refused if paused already)."""
        entry = self._entry(OperatorAction.SCHEDULE_PAUSE, name, reason, by)
        with self._audit.refusals(entry):
            return self._schedules().pause(name, entry)

    def resume(
        self, name: str, *, reason: str | None = None, by: str | None = None
    ) -> ScheduleView:
        """Tick ``name`` again from its first tick after now: the ticks of the pause are
        not caught up (refused if it is not paused)."""
        entry = self._entry(OperatorAction.SCHEDULE_RESUME, name, reason, by)
        with self._audit.refusals(entry):
            return self._schedules().resume(name, entry)

    def trigger(
        self,
        name: str,
        *,
        reason: str | None = None,
        by: str | None = None,
        key: str | None = None,
    ) -> InstanceHandle:
        """Start one instance of ``name`` now, outside its cadence (also when paused).

        Idempotent on ``key``: the instance id is ``schedule:NAME:trigger:KEY``, so
        repeating a trigger with its key starts nothing more (the handle's ``created`` is
        False). Without a key, each call is a trigger of its own (the key: the time now
        and random bits).
        """
        from daytwo._handles import InstanceHandle

        entry = self._entry(OperatorAction.SCHEDULE_TRIGGER, name, reason, by)
        with self._audit.refusals(entry):
            if key is not None:
                check_name("trigger key", key)
            instance_id, created = self._schedules().trigger(name, key, entry)
        return InstanceHandle(self._client, instance_id, created=created)

    @staticmethod
    def _entry(action: OperatorAction, name: str, reason: str | None, by: str | None) -> AuditEntry:
        return AuditEntry(resolve_actor(by), action, AuditTarget.SCHEDULE, name, reason)
