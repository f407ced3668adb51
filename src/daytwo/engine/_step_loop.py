"""The event loop that ``async def`` steps run on, and calling one from a run's thread.

A run executes on the thread that claimed its instance (a worker thread, or the caller of
``App.run``). A sync step runs right there; an async step is handed to a
:class:`StepLoop`, an asyncio loop on a thread of its own, and the run's thread waits for
its outcome. So the durability rules stay those of a sync step: the durable point is
written before the coroutine starts, and its outcome is recorded after it ends.

One loop per worker (and one for an App's inline runs): async steps of many instances
share it, so a worker with eight threads can have eight async steps awaiting I/O at once
on one loop. The loop's thread starts at the first async step, so a worker that runs only
sync code has no extra thread; :meth:`StepLoop.close` (the worker's ``stop()``) cancels
what still runs there and ends the thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from daytwo.engine._context import StepInfo, _run_var, _step_var

__all__ = ["PROCESS_STEP_LOOP", "StepLoop", "invoke_async"]


class StepLoop:
    """An asyncio event loop on a daemon thread, started at first use."""

    def __init__(self, name: str = "daytwo-async-steps") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the loop's thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        """Run ``coro`` on the loop; its future gets the outcome."""
        return asyncio.run_coroutine_threadsafe(coro, self._started())

    def _started(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name=self._name, daemon=True
                )
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def close(self) -> None:
        """Cancel the steps still running on the loop (their runs were abandoned: their
        writes are refused) and stop its thread. The loop starts again if used after."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(cancel_all(), loop)
        thread.join(timeout=5.0)


#: The loop of runs that no worker gave one of its own (e.g. a test calling ``execute``).
PROCESS_STEP_LOOP = StepLoop()


def invoke_async(
    step_loop: StepLoop,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    info: StepInfo,
    timeout: float | None,
) -> Any:
    """Run the async step function ``fn`` on ``step_loop`` and wait for its outcome.

    ``current_step()`` gives ``info`` inside it (and in tasks it creates). At ``timeout``
    the task is cancelled, and :class:`~daytwo.StepTimeout` raised once it has ended: as
    for a sync step, a timed-out attempt never overlaps its retry or compensation.
    """
    from daytwo.engine._invocation import StepTimeout

    async def call() -> Any:
        loop = asyncio.get_running_loop()
        # The task runs in a copy of the loop thread's context: these sets are its own.
        _run_var.set(None)  # a step calling another step runs it plainly
        _step_var.set(info)
        if timeout is None:
            return await fn(*args, **kwargs)
        # Scheduled before the timeout's own call: a step handling its cancellation
        # already sees current_step().cancelled.
        flag = None if info.cancel is None else loop.call_later(timeout, info.cancel.set)
        bound = asyncio.timeout(timeout)
        try:
            async with bound:
                return await fn(*args, **kwargs)
        except TimeoutError:
            if not bound.expired():
                raise  # the step's own timeout, not ours
            raise StepTimeout(f"step {info.step!r} did not finish within {timeout} s") from None
        finally:
            if flag is not None:
                flag.cancel()

    return step_loop.submit(call()).result()
