"""Calling a step function: its step info set, optionally bounded by a timeout."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from contextvars import copy_context
from typing import Any

from daytwo.engine._context import StepInfo, _run_var, _step_var

__all__ = ["StepTimeout", "error_record", "invoke"]


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
    # Python cannot interrupt a running function; the attempt is abandoned (and recorded
    # as timed out) while its thread runs on detached, as Temporal abandons an activity.
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
        raise StepTimeout(f"step {info.step!r} did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
