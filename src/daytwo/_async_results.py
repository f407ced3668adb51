"""Result waits for async code: an awaiting caller holds no thread.

An async wait registers with the client's :class:`~daytwo._results.ResultWaits` like any
other waiter, so it shares the one poller and its rounds, and in-process ends reach it at
once; the poller wakes it by resolving a future on the caller's event loop. Its own reads
(the first look, the look after a timeout) run in a thread, so they do not block the loop.
"""

from __future__ import annotations

import asyncio
import contextlib

from daytwo._results import ResultWaits, _Waiter
from daytwo.store import TERMINAL_STATUSES, OutcomeRow

__all__ = ["wait_async"]


class _AsyncWaiter(_Waiter):
    """A waiter whose waking resolves a future on its event loop."""

    __slots__ = ("_future", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.row: OutcomeRow | None = None
        self.error: Exception | None = None
        self._loop = loop
        self._future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> None:  # called by the poller, on its thread
        # A loop closed while its wait was pending refuses the call: nobody waits then.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_resolve, self._future)

    async def woken(self, timeout: float | None) -> bool:
        """Whether it was woken within ``timeout`` seconds (None: however long it takes)."""
        try:
            await asyncio.wait_for(asyncio.shield(self._future), timeout)
        except TimeoutError:
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_async(waits: ResultWaits, instance_id: str, timeout: float | None) -> OutcomeRow:
    """:meth:`ResultWaits.wait` for a coroutine: the same outcome, without a thread."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    row = await asyncio.to_thread(waits._read, instance_id)
    while row["status"] not in TERMINAL_STATUSES:
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            break
        waiter = _AsyncWaiter(loop)
        waits._begin(instance_id, waiter)
        try:
            woken = await waiter.woken(remaining)
        except asyncio.CancelledError:
            waits._unregister(instance_id, waiter)
            raise
        if not woken:
            waits._unregister(instance_id, waiter)
            return await asyncio.to_thread(waits._read, instance_id)
        if waiter.error is not None:
            raise waiter.error
        if waiter.row is not None:
            return waiter.row
        row = await asyncio.to_thread(waits._read, instance_id)  # woken without a row
    return row
