"""daytwo: a durable-workflow engine with its production operations built in."""

from daytwo._audit import AuditRecord, resolve_actor
from daytwo._client import Client
from daytwo._errors import (
    DaytwoError,
    InstanceConflict,
    InstanceNotFound,
    InvalidInput,
    NotRunnable,
    Reject,
    SerializationError,
    StepFailed,
    StoreUnavailable,
    TaskNotFound,
    WaitTimeout,
    WorkflowFailed,
    WorkflowNotFound,
)
from daytwo._extension import Extension
from daytwo._purge import PurgeReport, WorkflowPurge
from daytwo._records import Attempt, HistoryEvent, HumanTask, Instance, TaskStatus, Transition
from daytwo._registered import RegisteredWorkflow
from daytwo._version import __version__
from daytwo.app import App, HumanTasks, InstanceHandle
from daytwo.engine import (
    Clock,
    Context,
    FakeClock,
    JsonSerializer,
    Retry,
    Serializer,
    Step,
    StepInfo,
    StepTimeout,
    SystemClock,
    current_step,
)
from daytwo.store import (
    AuditOutcome,
    AuditTarget,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    OperatorAction,
    WaitKind,
    read_archive,
)
from daytwo.worker import Retention, Worker

__all__ = [
    "App",
    "Attempt",
    "AuditOutcome",
    "AuditRecord",
    "AuditTarget",
    "Client",
    "Clock",
    "Context",
    "DaytwoError",
    "Extension",
    "FakeClock",
    "HistoryEvent",
    "HistoryKind",
    "HistoryOutcome",
    "HumanTask",
    "HumanTasks",
    "Instance",
    "InstanceConflict",
    "InstanceHandle",
    "InstanceNotFound",
    "InstanceStatus",
    "InvalidInput",
    "JsonSerializer",
    "NotRunnable",
    "OperatorAction",
    "PurgeReport",
    "RegisteredWorkflow",
    "Reject",
    "Retention",
    "Retry",
    "SerializationError",
    "Serializer",
    "Step",
    "StepFailed",
    "StepInfo",
    "StepTimeout",
    "StoreUnavailable",
    "SystemClock",
    "TaskNotFound",
    "TaskStatus",
    "Transition",
    "WaitKind",
    "WaitTimeout",
    "Worker",
    "WorkflowFailed",
    "WorkflowNotFound",
    "WorkflowPurge",
    "__version__",
    "current_step",
    "read_archive",
    "resolve_actor",
]
