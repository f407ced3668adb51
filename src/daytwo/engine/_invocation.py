"""Calling a step function: its step info set, optionally bounded by a timeout."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from contextvars import copy_context
from typing import Any

from daytwo.engine._context import StepInfo, _run_var, _step_var

__all__ = ["StepTimeout", "error_record", "invoke"]

log = logging.getLogger("daytwo.runner")

#: While a timed-out attempt keeps running, a warning is logged this often (seconds).
OVERRUN_REPORT_SECONDS = 30.0


class StepTimeout(TimeoutError):
    """A step attempt ran longer than its ``timeout``."""


def error_record(exc: BaseException) -> dict[str, Any]:
    """The stored form of an exception."""
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }


def invoke(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    info: StepInfo,
    timeout: float | None,
) -> Any:
    """Call a step function with its step info set, optionally bounded by ``timeout``."""

    def call() -> Any:
        run_token = _run_var.set(None)  # a step calling another step runs it plainly
        step_token = _step_var.set(info)
        try:
            return fn(*args, **kwargs)
        finally:
            _step_var.reset(step_token)
            _run_var.reset(run_token)

    if timeout is None:
        return call()
    # Python cannot interrupt a running function. A timed-out attempt is asked to stop
    # (info.cancel, read through current_step().cancelled) and then waited for: if it ran on
    # beside its retry, or past the saga's compensation, its side effect could complete
    # after it was undone. The attempt counts as timed out whatever it returns late.
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.set()

    context = copy_context()
    threading.Thread(target=context.run, args=(target,), daemon=True, name="daytwo-step").start()
    if not done.wait(timeout):
        _wait_for_overrun(info, timeout, done)
        raise StepTimeout(f"step {info.step!r} did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _wait_for_overrun(info: StepInfo, timeout: float, done: threading.Event) -> None:
    """Cancel a timed-out attempt and wait until its function returns (see :func:`invoke`)."""
    if info.cancel is not None:
        info.cancel.set()
    started = time.monotonic() - timeout
    while not done.wait(OVERRUN_REPORT_SECONDS):
        log.warning(
            "instance %s: step %r attempt %d ran past its %g s timeout %.0f s ago and still "
            "runs; its retry or compensation waits until it returns (check "
            "current_step().cancelled in long steps)",
            info.instance_id, info.step, info.attempt, timeout,
            time.monotonic() - started - timeout,
        )  # fmt: skip
