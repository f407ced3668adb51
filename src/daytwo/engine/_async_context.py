"""What an ``async def`` workflow sees: :class:`AsyncContext`, and its awaitable step calls.

Every operation is the sync :class:`~daytwo.Context`'s, performed when it is awaited: the
awaitable runs the sync operation and returns without ever yielding, so the engine's
single ``send`` into the workflow coroutine (``_async_workflow.py``) goes through it like
a plain call, and a suspension raises through the coroutine as it does through sync code.
Wrapping a new Context method is one short ``async def`` that calls it.
"""

from __future__ import annotations

import uuid as _uuid
from asyncio import events
from collections.abc import Awaitable, Coroutine, Generator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from daytwo.engine._context import Context
from daytwo.engine._task_plan import RAISE, Escalation, Reminder

if TYPE_CHECKING:
    from daytwo.engine._definitions import Step
    from daytwo.engine._runner import Run

__all__ = ["AsyncContext", "PendingStep"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class PendingStep(Generic[R]):
    """A step called in an async workflow: it runs (or replays) when awaited."""

    __slots__ = ("args", "kwargs", "run", "step")

    def __init__(
        self, run: Run, step: Step[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.run = run
        self.step = step
        self.args = args
        self.kwargs = kwargs
        # Until awaited: a call left unawaited when the workflow returns is reported
        # (its step never ran; a coroutine would warn, this object would not).
        assert run.awaits is not None
        run.awaits.append(self)

    def __await__(self) -> Generator[Any, None, R]:
        pending = self.run.awaits
        assert pending is not None
        if pending and pending[-1] is self:
            pending.pop()
        elif self in pending:
            pending.remove(self)
        # The workflow's thread has the guard loop set (foreign awaits fail clearly); the
        # step is ordinary code, which may run an event loop of its own (asyncio.run).
        guard = events._get_running_loop()
        events._set_running_loop(None)
        try:
            value: R = self.run.call_step(self.step, self.args, self.kwargs)
        finally:
            events._set_running_loop(guard)
        return value
        yield  # never reached: makes this a generator that returns without yielding

    def __repr__(self) -> str:
        return f"<daytwo call of step {self.step.name!r}>"


class AsyncContext:
    """The durable operations of an ``async def`` workflow (see :class:`daytwo.Context`).

    The same operations, recorded the same way, to be awaited: ``await ctx.sleep(60)``.
    An async workflow awaits only these and its steps: anything else (``asyncio.sleep``,
    a network call) raises :class:`daytwo.ForeignAwait`; do I/O in a step.
    """

    def __init__(self, run: Run) -> None:
        self._run = run
        #: The sync operations these wrap.
        self.sync = Context(run)

    @property
    def instance_id(self) -> str:
        """The id of this instance."""
        return self.sync.instance_id

    @property
    def workflow(self) -> str:
        """The workflow's name."""
        return self.sync.workflow

    @property
    def version(self) -> str:
        """The workflow version this instance is pinned to."""
        return self.sync.version

    @property
    def is_replaying(self) -> bool:
        """True while the code re-executes positions already in the history."""
        return self.sync.is_replaying

    # ``await charge(order)`` calls any step; this is its typed spelling for sync steps
    # (whose declared return type mypy does not see as awaitable).
    @overload
    def step(
        self, step: Step[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[T]: ...

    @overload
    def step(self, step: Step[P, R], *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]: ...

    def step(self, step: Step[P, Any], *args: P.args, **kwargs: P.kwargs) -> Awaitable[Any]:
        """Call ``step`` (sync or async) at the next position: ``await ctx.step(charge, o)``."""
        return PendingStep(self._run, step, args, kwargs)

    async def sleep(self, duration: timedelta | float, *, name: str = "sleep") -> None:
        """Wait durably for ``duration`` (see :meth:`daytwo.Context.sleep`)."""
        self.sync.sleep(duration, name=name)

    async def wait_for_signal(self, name: str, *, timeout: timedelta | float | None = None) -> Any:
        """Wait durably for the signal ``name`` (see :meth:`daytwo.Context.wait_for_signal`)."""
        return self.sync.wait_for_signal(name, timeout=timeout)

    async def human_task(
        self,
        name: str,
        *,
        assignee: str | None = None,
        due: timedelta | float | None = None,
        payload: Any = None,
        remind: Sequence[Reminder | timedelta | float] = (),
        escalate: Sequence[Escalation] = (),
        timeout: timedelta | float | None = None,
        on_timeout: Any = RAISE,
    ) -> Any:
        """Create a human task and wait durably for its outcome (see
        :meth:`daytwo.Context.human_task`)."""
        return self.sync.human_task(
            name, assignee=assignee, due=due, payload=payload, remind=remind,
            escalate=escalate, timeout=timeout, on_timeout=on_timeout,
        )  # fmt: skip

    async def now(self) -> datetime:
        """The current time (UTC), recorded so that replay sees the same value."""
        return self.sync.now()

    async def uuid(self) -> _uuid.UUID:
        """A random UUID, recorded so that replay sees the same value."""
        return self.sync.uuid()

    async def random(self) -> float:
        """A random float in [0, 1), recorded so that replay sees the same value."""
        return self.sync.random()
