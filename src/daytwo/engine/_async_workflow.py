"""Driving an ``async def`` workflow: the engine steps its coroutine itself.

The coroutine runs on the run's own thread, inside one ``coro.send(None)``: every daytwo
operation it awaits (:class:`~daytwo.engine._async_context.PendingStep`, the
:class:`AsyncContext` methods) completes synchronously in that send, and a suspension,
divergence or cancel raises through the coroutine exactly as through sync code. So replay
and durable points are those of a sync workflow, and no coroutine, loop or thread is kept
while the instance waits: the next run calls the workflow from the top, as always.

A workflow that awaits anything else would depend on I/O and timing that replay cannot
reproduce. It is refused at that await with :class:`ForeignAwait`, raised into the
coroutine where its traceback names the line: while the coroutine runs, the thread's
running loop is a guard whose every use raises it (``asyncio.sleep``, an HTTP client), and
an awaitable that yields to a loop (``await asyncio.sleep(0)``, a foreign future) gets it
thrown in. Uncaught, it fails the instance like any error of workflow code.
"""

from __future__ import annotations

import logging
from asyncio import events
from typing import TYPE_CHECKING, Any, NoReturn

from daytwo._errors import DaytwoError
from daytwo.engine._async_context import AsyncContext

if TYPE_CHECKING:
    from daytwo.engine._runner import Run

__all__ = ["ForeignAwait", "run_async_workflow"]

log = logging.getLogger("daytwo.runner")


class ForeignAwait(DaytwoError, RuntimeError):
    """An async workflow awaited something that is not a daytwo operation."""


def _refusal(workflow: str, awaited: str) -> ForeignAwait:
    return ForeignAwait(
        f"async workflow {workflow!r} awaited {awaited}, which is not a daytwo operation: "
        "a workflow must replay deterministically, so it awaits only its steps and ctx "
        "operations; do I/O (HTTP calls, asyncio.sleep, queues) in an @app.step (async "
        "def steps run on the worker's event loop) and wait with `await ctx.sleep(...)`"
    )


class _GuardLoop:
    """The running loop while workflow code runs: any use of it is a foreign await."""

    __slots__ = ("workflow",)

    def __init__(self, workflow: str) -> None:
        self.workflow = workflow

    def __getattr__(self, name: str) -> NoReturn:
        raise _refusal(self.workflow, f"an asyncio operation (it asked the event loop for {name})")


def run_async_workflow(run: Run, input_value: Any) -> Any:
    """Run the async workflow of ``run`` to its end (or its suspension) on this thread."""
    definition = run.definition
    run.awaits = []
    coro = definition.call(AsyncContext(run), input_value)
    previous = events._get_running_loop()
    events._set_running_loop(_GuardLoop(definition.name))  # type: ignore[arg-type]
    try:
        try:
            awaited = coro.send(None)
        except StopIteration as done:
            return _returned(run, done.value)
        # It yielded to an event loop: refuse at that await; code that catches the
        # refusal may still end (or go on with daytwo operations), but not await again.
        try:
            coro.throw(_refusal(definition.name, repr(awaited)))
        except StopIteration as done:
            return _returned(run, done.value)
        coro.close()
        raise _refusal(definition.name, "a non-daytwo awaitable again after being refused")
    finally:
        events._set_running_loop(previous)


def _returned(run: Run, value: Any) -> Any:
    """The workflow's result; step calls it never awaited (their steps did not run) are
    reported, as Python reports a coroutine never awaited."""
    if run.awaits:
        names = ", ".join(sorted({call.step.name for call in run.awaits}))
        log.warning(
            "instance %s: async workflow %r returned without awaiting its call(s) of step "
            "%s, which therefore did not run; write `await %s(...)`",
            run.instance_id, run.definition.name, names, run.awaits[0].step.name,
        )  # fmt: skip
    return value
