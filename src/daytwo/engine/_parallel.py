"""Parallel steps: ``ctx.gather`` and ``ctx.map`` (the workflow-facing half).

The run-level half (positions, replay, rounds of branches on a thread pool) is in
``_fanout.py``; a branch's gate, attempt and outcome in ``_fanout_steps.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from daytwo._errors import ChildFailed, InvalidInput
from daytwo.engine._children import ChildHandle
from daytwo.engine._step_call import StepCall

if TYPE_CHECKING:
    from daytwo.engine._definitions import Step
    from daytwo.engine._runner import Run

__all__ = ["ParallelOperations"]

R = TypeVar("R")


class ParallelOperations:
    """The fan-out operations of a workflow's context."""

    _run: Run

    @overload
    def gather(
        self, *calls: StepCall[R], fail_fast: bool = True, concurrency: int | None = None
    ) -> list[R]: ...

    @overload
    def gather(
        self, *calls: ChildHandle, fail_fast: bool = True, concurrency: int | None = None
    ) -> list[Any]: ...

    def gather(
        self, *calls: Any, fail_fast: bool = True, concurrency: int | None = None
    ) -> list[Any]:
        """Run the calls (``step.defer(...)``) concurrently; their results in argument order.

        The fan-out takes one history position, then one per branch in argument order, so
        replay returns the recorded results without running anything. At most
        ``concurrency`` branches run at once (None: as many as the engine's per-instance
        cap). A branch failing for good raises its :class:`~daytwo.StepFailed`: with
        ``fail_fast`` once the branches in flight have finished (the others do not start);
        otherwise once every branch has finished, as :class:`~daytwo.BranchesFailed`.
        An empty gather returns ``[]`` (and still takes its position).

        Given the handles of children (``ctx.start_child``), it is their fan-in: the
        children run already, each in its own instance; this waits for each in argument
        order (one position per child, as ``handle.result()`` does) and returns their
        results. A child that ended otherwise than SUCCEEDED raises its
        :class:`~daytwo.ChildFailed`: with ``fail_fast`` at once, otherwise once every
        child has ended (the first failure by position).
        """
        if not isinstance(fail_fast, bool):
            raise InvalidInput(f"fail_fast must be True or False, got {fail_fast!r}")
        if calls and all(isinstance(call, ChildHandle) for call in calls):
            return _fan_in(list(calls), fail_fast)
        from daytwo.engine._fanout import run_gather

        for index, call in enumerate(calls):
            if not isinstance(call, StepCall):
                mixed = " (gather steps and children in separate calls)" if isinstance(
                    call, ChildHandle) else ""  # fmt: skip
                raise InvalidInput(
                    f"ctx.gather takes step calls or child handles, got {type(call).__name__} "
                    f"as argument {index}{mixed}; describe a step call with step.defer(...) "
                    "instead of calling the step"
                )
        return run_gather(self._run, list(calls), fail_fast, _width(concurrency))

    def map(
        self,
        step: Step[..., R],
        items: Iterable[Any],
        *,
        concurrency: int | None = None,
        fail_fast: bool = True,
    ) -> list[R]:
        """``step(item)`` for every item, concurrently; the results in the items' order.

        The same as ``ctx.gather(*(step.defer(item) for item in items), ...)``.
        """
        from daytwo.engine._definitions import Step

        if not isinstance(step, Step):
            raise InvalidInput(
                f"ctx.map takes a step (a function decorated with @app.step), got "
                f"{type(step).__name__}"
            )
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise InvalidInput(
                f"ctx.map takes an iterable of items (a list, a range, ...), got "
                f"{type(items).__name__}"
            )
        calls = [StepCall(step, (item,), {}) for item in items]
        return self.gather(*calls, fail_fast=fail_fast, concurrency=concurrency)


def _fan_in(handles: list[ChildHandle], fail_fast: bool) -> list[Any]:
    """Wait for each child in order; raise the first failure (at once with ``fail_fast``)."""
    results: list[Any] = []
    first: ChildFailed | None = None
    for handle in handles:
        try:
            results.append(handle.result())
        except ChildFailed as failed:
            if fail_fast:
                raise
            first = first or failed
            results.append(None)
    if first is not None:
        raise first
    return results


def _width(concurrency: int | None) -> int | None:
    if concurrency is None:
        return None
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidInput(
            f"concurrency must be a whole number of at least 1 (or None), got {concurrency!r}"
        )
    return concurrency
