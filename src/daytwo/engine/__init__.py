"""The execution engine: context, replay, runner, retries, compensation, clock."""

from daytwo.engine._clock import Clock, FakeClock, SystemClock
from daytwo.engine._context import Context, StepInfo, current_step
from daytwo.engine._definitions import Registry, Step, WorkflowDefinition
from daytwo.engine._durable import RunResult, Runtime
from daytwo.engine._invocation import StepTimeout
from daytwo.engine._retry import Retry
from daytwo.engine._runner import Run, execute
from daytwo.engine._serde import JsonSerializer, Serializer

__all__ = [
    "Clock",
    "Context",
    "FakeClock",
    "JsonSerializer",
    "Registry",
    "Retry",
    "Run",
    "RunResult",
    "Runtime",
    "Serializer",
    "Step",
    "StepInfo",
    "StepTimeout",
    "SystemClock",
    "WorkflowDefinition",
    "current_step",
    "execute",
]
