"""Read-only views of a human task's plan and of what happened to it (``task_events``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daytwo.store import PlanStepKind, TaskEventKind, TaskEventRow, TaskPlan

__all__ = ["PlannedStep", "TaskEvent", "planned_steps"]


@dataclass(frozen=True)
class PlannedStep:
    """A reminder or an escalation of a task's plan."""

    at: datetime
    kind: PlanStepKind
    #: The new assignee of an escalation.
    assignee: str | None
    #: As the workflow wrote it: "1h before due", "4h after creation: role:sales-manager".
    label: str
    #: Taken already (a step left when the task closed never is).
    done: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "at": self.at.isoformat(),
            "kind": str(self.kind),
            "assignee": self.assignee,
            "label": self.label,
            "done": self.done,
        }


def planned_steps(plan: TaskPlan, next_step: int | None) -> tuple[PlannedStep, ...]:
    """The steps of ``plan``, those before ``next_step`` done (all, when it is None)."""
    pending_from = len(plan.steps) if next_step is None else next_step
    return tuple(
        PlannedStep(
            at=datetime.fromtimestamp(step.at, UTC),
            kind=step.kind,
            assignee=step.to,
            label=step.label,
            done=index < pending_from,
        )
        for index, step in enumerate(plan.steps)
    )


@dataclass(frozen=True)
class TaskEvent:
    """One thing that happened to a human task."""

    id: int
    task_id: str
    at: datetime
    kind: TaskEventKind
    #: A person, or ``daytwo`` for the plan's own steps.
    actor: str | None
    from_assignee: str | None
    to_assignee: str | None
    #: The reason given, or the plan's step ("1h before due").
    detail: str | None

    @classmethod
    def from_row(cls, row: TaskEventRow) -> TaskEvent:
        """Build from a ``task_events`` row."""
        return cls(
            id=row["id"],
            task_id=row["task_id"],
            at=datetime.fromtimestamp(row["at"], UTC),
            kind=TaskEventKind(row["kind"]),
            actor=row["actor"],
            from_assignee=row["from_assignee"],
            to_assignee=row["to_assignee"],
            detail=row["detail"],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "task_id": self.task_id,
            "at": self.at.isoformat(),
            "kind": str(self.kind),
            "actor": self.actor,
            "from_assignee": self.from_assignee,
            "to_assignee": self.to_assignee,
            "detail": self.detail,
        }
