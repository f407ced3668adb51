"""The execution engine: context, replay, runner, retries, compensation, clock."""

from daytwo.engine._async_context import AsyncChildHandle, AsyncContext
from daytwo.engine._async_workflow import ForeignAwait
from daytwo.engine._children import ChildHandle
from daytwo.engine._clock import Clock, FakeClock, SystemClock
from daytwo.engine._context import Context, StepInfo, current_run, current_step
from daytwo.engine._definitions import Registry, Step, WorkflowDefinition, check_name, version_key
from daytwo.engine._durable import RunResult, Runtime
from daytwo.engine._invocation import StepTimeout
from daytwo.engine._retry import DEFAULT_RETRY, FailurePolicy, Retry, failure_policy
from daytwo.engine._runner import Run, execute
from daytwo.engine._serde import JsonSerializer, Serializer
from daytwo.engine._step_call import StepCall
from daytwo.engine._step_loop import StepLoop
from daytwo.engine._task_plan import Escalation, Reminder, TaskSchedule, after, at_due, before

__all__ = [
    "DEFAULT_RETRY",
    "AsyncChildHandle",
    "AsyncContext",
    "ChildHandle",
    "Clock",
    "Context",
    "Escalation",
    "FailurePolicy",
    "FakeClock",
    "ForeignAwait",
    "JsonSerializer",
    "Registry",
    "Reminder",
    "Retry",
    "Run",
    "RunResult",
    "Runtime",
    "Serializer",
    "Step",
    "StepCall",
    "StepInfo",
    "StepLoop",
    "StepTimeout",
    "SystemClock",
    "TaskSchedule",
    "WorkflowDefinition",
    "after",
    "at_due",
    "before",
    "check_name",
    "current_run",
    "current_step",
    "execute",
    "failure_policy",
    "version_key",
]
