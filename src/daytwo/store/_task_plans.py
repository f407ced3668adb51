"""A human task's plan (its reminders, escalation chain and timeout) and its event rows.

The plan is computed once, when the workflow creates the task, as absolute times, and
stored with the task (``human_tasks.plan``, JSON). Its reminders and escalations are one
list of steps in time order; ``next_step`` is the index of the next one and
``next_action_at`` its time, which the task-deadline service
(:class:`daytwo.worker.TaskDeadlines`) reads through an index. A step is applied by a
compare-and-set on ``next_step``, in the transaction that records it, so it happens once
whoever runs it and however often. The timeout is the engine's: the instance's wait wakes
at ``timeout_at`` (see ``Run.human_task``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from daytwo.store._schema import task_events
from daytwo.store._vocabulary import TaskEventKind

__all__ = ["SYSTEM_ACTOR", "PlanStep", "PlanStepKind", "TaskPlan", "append_task_event"]

#: The actor of the steps the plan takes by itself.
SYSTEM_ACTOR = "daytwo"


class PlanStepKind(StrEnum):
    """What a step of a task's plan does (``human_tasks.plan``)."""

    #: Tell the assignee (an outbox ``task.reminder`` event).
    REMIND = "remind"
    #: Reassign the task to the step's ``to`` (an outbox ``task.escalated`` event).
    ESCALATE = "escalate"


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One reminder or escalation at an absolute time (epoch seconds)."""

    at: float
    kind: PlanStepKind
    #: The new assignee of an escalation.
    to: str | None = None
    #: How the workflow wrote it ("1h before due", "4h after creation").
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        step: dict[str, Any] = {"at": self.at, "kind": str(self.kind), "label": self.label}
        if self.to is not None:
            step["to"] = self.to
        return step


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """A task's reminders and escalations (``steps``, in time order) and its timeout."""

    steps: tuple[PlanStep, ...] = ()
    timeout_at: float | None = None

    @property
    def empty(self) -> bool:
        """Whether there is nothing in it (the task stores no plan)."""
        return not self.steps and self.timeout_at is None

    def dumps(self) -> str:
        """The JSON stored in ``human_tasks.plan``."""
        return json.dumps(
            {"steps": [step.to_json() for step in self.steps], "timeout_at": self.timeout_at}
        )

    @classmethod
    def loads(cls, text: str | None) -> TaskPlan:
        """The plan of a stored ``plan`` column (an empty one for NULL)."""
        if not text:
            return cls()
        data = json.loads(text)
        steps = tuple(
            PlanStep(
                at=float(step["at"]),
                kind=PlanStepKind(step["kind"]),
                to=step.get("to"),
                label=step.get("label", ""),
            )
            for step in data.get("steps", ())
        )
        return cls(steps, data.get("timeout_at"))

    def first(self) -> tuple[int | None, float | None]:
        """``next_step`` and ``next_action_at`` of a new task."""
        return self.after(-1)

    def after(self, index: int) -> tuple[int | None, float | None]:
        """``next_step`` and ``next_action_at`` once step ``index`` is done."""
        following = index + 1
        if following < len(self.steps):
            return following, self.steps[following].at
        return None, None

    def upcoming(self, next_step: int | None) -> Sequence[PlanStep]:
        """The steps not taken yet."""
        return () if next_step is None else self.steps[next_step:]


def append_task_event(
    conn: sa.Connection,
    task_id: str,
    kind: TaskEventKind,
    now: float,
    *,
    actor: str | None = None,
    from_assignee: str | None = None,
    to_assignee: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one ``task_events`` row inside ``conn``'s open transaction."""
    conn.execute(
        task_events.insert().values(
            task_id=task_id,
            at=now,
            kind=str(kind),
            actor=actor,
            from_assignee=from_assignee,
            to_assignee=to_assignee,
            detail=detail,
        )
    )
