"""daytwo: a durable-workflow engine with its production operations built in."""

from daytwo._audit import AuditRecord, resolve_actor
from daytwo._bulk import BulkJob, BulkPreview, BulkProgress
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
from daytwo._explain import ApplicableAction, Explanation
from daytwo._extension import Extension
from daytwo._links import Link
from daytwo._live_workers import WorkerInfo
from daytwo._records import Attempt, HistoryEvent, HumanTask, Instance, TaskStatus, Transition
from daytwo._registered import RegisteredWorkflow
from daytwo._selection import Selection
from daytwo._version import __version__
from daytwo.app import App, HumanTasks, InstanceHandle
from daytwo.engine import (
    Clock,
    Context,
    FailurePolicy,
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
    BulkOutcome,
    BulkStatus,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    LinkKind,
    OperatorAction,
    WaitKind,
)
from daytwo.worker import Worker

__all__ = [
    "App",
    "ApplicableAction",
    "Attempt",
    "AuditOutcome",
    "AuditRecord",
    "AuditTarget",
    "BulkJob",
    "BulkOutcome",
    "BulkPreview",
    "BulkProgress",
    "BulkStatus",
    "Client",
    "Clock",
    "Context",
    "DaytwoError",
    "Explanation",
    "Extension",
    "FailurePolicy",
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
    "Link",
    "LinkKind",
    "NotRunnable",
    "OperatorAction",
    "RegisteredWorkflow",
    "Reject",
    "Retry",
    "Selection",
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
    "WorkerInfo",
    "WorkflowFailed",
    "WorkflowNotFound",
    "__version__",
    "current_step",
    "resolve_actor",
]
