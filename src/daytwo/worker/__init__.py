"""Workers: claim loop, leases, heartbeats and background services."""

from daytwo.worker._deadlines import InstanceDeadlines
from daytwo.worker._host import WorkerHost
from daytwo.worker._outbox import OutboxDelivery, OutboxSubscriber, delivery_backoff
from daytwo.worker._retention import (
    Retention,
    RetentionService,
    check_period,
    retention_periods,
)
from daytwo.worker._scheduler import Scheduler, declare_schedules
from daytwo.worker._service_lease import ServiceLease
from daytwo.worker._task_deadlines import TaskDeadlines
from daytwo.worker._worker import BackgroundService, Worker

__all__ = [
    "BackgroundService",
    "InstanceDeadlines",
    "OutboxDelivery",
    "OutboxSubscriber",
    "Retention",
    "RetentionService",
    "Scheduler",
    "ServiceLease",
    "TaskDeadlines",
    "Worker",
    "WorkerHost",
    "check_period",
    "declare_schedules",
    "delivery_backoff",
    "retention_periods",
]
