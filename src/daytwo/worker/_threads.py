"""The threads a worker runs instances on.

Like ``concurrent.futures.ThreadPoolExecutor`` (submit a call, get a ``Future``), except
that the threads are daemon threads that nothing joins at interpreter exit. A step that
outlives the shutdown grace has had its lease given back, so another worker may run it
again: the process must then really exit instead of waiting for the step (the executor's
exit hook would keep it alive until the step ends, running it beside the new holder).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["RunThreads"]

_T = TypeVar("_T")


class RunThreads(Generic[_T]):
    """``size`` daemon threads taking calls from one queue."""

    def __init__(self, size: int, *, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], _T], Future[_T]] | None] = (
            queue.SimpleQueue()
        )
        self._size = size
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{n}", daemon=True)
            for n in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, call: Callable[[], _T]) -> Future[_T]:
        """Run ``call`` on the next free thread; its future gets the outcome."""
        future: Future[_T] = Future()
        self._calls.put((call, future))
        return future

    def shutdown(self) -> None:
        """Let idle threads end; calls still running go on (nothing waits for them)."""
        for _ in range(self._size):
            self._calls.put(None)

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            call, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
