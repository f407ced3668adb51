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
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from daytwo.engine._children import ChildHandle
from daytwo.engine._context import Context
from daytwo.engine._step_call import StepCall
from daytwo.engine._task_plan import RAISE, Escalation, Reminder
from daytwo.store import ParentClose

if TYPE_CHECKING:
    from daytwo.engine._definitions import Step
    from daytwo.engine._runner import Run

__all__ = ["AsyncChildHandle", "AsyncContext", "PendingStep"]

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


class AsyncChildHandle:
    """A child started by ``await ctx.start_child(...)`` in an async workflow: its id and
    workflow, and ``await handle.result()`` to wait for it (see :class:`daytwo.ChildHandle`)."""

    __slots__ = ("handle",)

    def __init__(self, handle: ChildHandle) -> None:
        #: The sync handle this wraps (what ``ctx.gather`` takes).
        self.handle = handle

    @property
    def id(self) -> str:
        """The child's instance id."""
        return self.handle.id

    @property
    def workflow(self) -> str:
        """The child's workflow name."""
        return self.handle.workflow

    async def result(self) -> Any:
        """Wait durably for the child's end and return its output (see
        :meth:`daytwo.ChildHandle.result`)."""
        return self.handle.result()

    def __repr__(self) -> str:
        return f"<daytwo child {self.workflow!r} {self.id!r}>"


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

    async def start_child(
        self,
        workflow: Callable[..., Any] | str,
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        queue: str | None = None,
        on_parent_close: ParentClose | str = ParentClose.CANCEL,
    ) -> AsyncChildHandle:
        """Start a child workflow and return its handle (see
        :meth:`daytwo.Context.start_child`)."""
        return AsyncChildHandle(
            self.sync.start_child(
                workflow, input, id=id, version=version, queue=queue,
                on_parent_close=on_parent_close,
            )
        )  # fmt: skip

    async def child(
        self,
        workflow: Callable[..., Any] | str,
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        queue: str | None = None,
        on_parent_close: ParentClose | str = ParentClose.CANCEL,
    ) -> Any:
        """Start a child workflow and wait durably for its result (see
        :meth:`daytwo.Context.child`)."""
        return self.sync.child(
            workflow, input, id=id, version=version, queue=queue, on_parent_close=on_parent_close
        )

    async def gather(
        self,
        *calls: StepCall[Any] | AsyncChildHandle,
        fail_fast: bool = True,
        concurrency: int | None = None,
    ) -> list[Any]:
        """Run step calls (``step.defer(...)``) concurrently, or wait for children, in
        argument order (see :meth:`daytwo.Context.gather`)."""
        branches = [call.handle if isinstance(call, AsyncChildHandle) else call for call in calls]
        gather: Callable[..., list[Any]] = self.sync.gather
        return gather(*branches, fail_fast=fail_fast, concurrency=concurrency)

    async def map(
        self,
        step: Step[..., Any],
        items: Iterable[Any],
        *,
        concurrency: int | None = None,
        fail_fast: bool = True,
    ) -> list[Any]:
        """``step(item)`` for every item, concurrently (see :meth:`daytwo.Context.map`)."""
        return self.sync.map(step, items, concurrency=concurrency, fail_fast=fail_fast)
