"""What ``ctx.human_task`` is told about time: reminders, an escalation chain, a timeout.

The workflow writes them relative to the task (``daytwo.before(timedelta(hours=1))`` and
``daytwo.at_due()`` relative to its due time, ``daytwo.after(timedelta(hours=4),
"role:sales-manager")`` and ``timeout=`` from its creation). :class:`TaskSchedule` checks
them at the call — a mistake there is a bug in the workflow's code, refused with
:class:`~daytwo.InvalidInput` naming the argument and the fix — and turns them into the
absolute :class:`~daytwo.store.TaskPlan` stored with the task when the task is created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from daytwo._errors import InvalidInput
from daytwo.store import PlanStep, PlanStepKind, TaskPlan

__all__ = ["RAISE", "Escalation", "Reminder", "TaskSchedule", "after", "at_due", "before", "span"]

Duration = timedelta | float | int


class _Raise:
    def __repr__(self) -> str:
        return "RAISE"


#: ``on_timeout`` when the workflow gave none: a timeout raises ``TaskTimedOut``.
RAISE: Final[Any] = _Raise()


def _seconds(value: object, what: str, *, positive: bool) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidInput(f"{what} must be a timedelta or a number of seconds, not {value!r}")
    if seconds < 0 or (positive and seconds == 0):
        least = "more than zero" if positive else "zero or more"
        raise InvalidInput(f"{what} must be {least}, not {span(seconds)}")
    return seconds


def span(seconds: float) -> str:
    """A duration as people write it: ``1h``, ``90m``, ``1d2h``, ``45s``."""
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{int(count)}{unit}")
    if seconds or not parts:
        parts.append(f"{seconds:g}s")
    return sign + "".join(parts)


@dataclass(frozen=True, slots=True)
class Reminder:
    """Remind the assignee ``before_due`` seconds before the task's due time."""

    before_due: float

    @property
    def label(self) -> str:
        """How the step reads in ``daytwo task show``."""
        return "at due" if self.before_due == 0 else f"{span(self.before_due)} before due"


@dataclass(frozen=True, slots=True)
class Escalation:
    """Reassign the task to ``assignee`` ``delay`` seconds after it was created."""

    delay: float
    assignee: str

    @property
    def label(self) -> str:
        """How the step reads in ``daytwo task show``."""
        return f"{span(self.delay)} after creation: {self.assignee}"


def before(duration: Duration) -> Reminder:
    """A reminder ``duration`` before the task's due time (``remind=[daytwo.before(...)]``)."""
    return Reminder(_seconds(duration, "daytwo.before() duration", positive=False))


def at_due() -> Reminder:
    """A reminder at the task's due time."""
    return Reminder(0.0)


def after(duration: Duration, assignee: str) -> Escalation:
    """An escalation: ``duration`` after the task was created, it is reassigned to
    ``assignee`` (``escalate=[daytwo.after(timedelta(hours=4), "role:sales-manager")]``)."""
    delay = _seconds(duration, "daytwo.after() delay", positive=True)
    if not isinstance(assignee, str) or not assignee.strip():
        raise InvalidInput(
            f"daytwo.after({span(delay)}, ...) needs the assignee to escalate to "
            f"(a person or role:NAME), not {assignee!r}"
        )
    return Escalation(delay, assignee.strip())


@dataclass(frozen=True, slots=True)
class TaskSchedule:
    """A task's reminders, escalations and timeout relative to it, checked (see module)."""

    due: float | None = None
    reminders: tuple[Reminder, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    timeout: float | None = None

    @classmethod
    def of(
        cls,
        name: str,
        *,
        due: Duration | None,
        remind: Sequence[Reminder | Duration],
        escalate: Sequence[Escalation],
        timeout: Duration | None,
    ) -> TaskSchedule:
        """Check what ``ctx.human_task(name, ...)`` was given; raises InvalidInput."""
        where = f"ctx.human_task({name!r})"
        due_s = None if due is None else _seconds(due, f"{where}: due", positive=False)
        timeout_s = (
            None if timeout is None else _seconds(timeout, f"{where}: timeout", positive=True)
        )
        reminders = tuple(_reminder(item, where) for item in remind)
        if reminders and due_s is None:
            raise InvalidInput(
                f"{where}: remind= needs due=, since reminders are counted back from the due "
                "time; give due= too"
            )
        for reminder in reminders:
            if due_s is not None and reminder.before_due > due_s:
                raise InvalidInput(
                    f"{where}: the reminder {reminder.label} falls before the task exists "
                    f"(it is due {span(due_s)} after creation); use a shorter one"
                )
        escalations = tuple(escalate)
        previous = 0.0
        for step in escalations:
            if not isinstance(step, Escalation):
                raise InvalidInput(
                    f"{where}: escalate= takes daytwo.after(delay, assignee) steps, not {step!r}"
                )
            if step.delay <= previous:
                raise InvalidInput(
                    f"{where}: the escalation chain must go forward in time; "
                    f"{step.label} does not come after the step before it"
                )
            previous = step.delay
        if timeout_s is not None:
            if due_s is not None and timeout_s < due_s:
                raise InvalidInput(
                    f"{where}: the timeout ({span(timeout_s)}) comes before the due time "
                    f"({span(due_s)}); give a timeout at or after due="
                )
            late = [step for step in escalations if step.delay >= timeout_s]
            if late:
                raise InvalidInput(
                    f"{where}: the escalation {late[0].label} would never happen: the task "
                    f"times out {span(timeout_s)} after creation"
                )
        return cls(due_s, reminders, escalations, timeout_s)

    def plan(self, created_at: float) -> TaskPlan:
        """The absolute plan of a task created at ``created_at``."""
        steps = [
            PlanStep(created_at + self.due - r.before_due, PlanStepKind.REMIND, None, r.label)
            for r in self.reminders
            if self.due is not None
        ]
        steps += [
            PlanStep(created_at + e.delay, PlanStepKind.ESCALATE, e.assignee, e.label)
            for e in self.escalations
        ]
        # At one instant an escalation goes first, so that a reminder reaches the new assignee.
        steps.sort(key=lambda s: (s.at, s.kind is PlanStepKind.REMIND))
        timeout_at = None if self.timeout is None else created_at + self.timeout
        return TaskPlan(tuple(steps), timeout_at)


def _reminder(item: object, where: str) -> Reminder:
    if isinstance(item, Reminder):
        return item
    if isinstance(item, timedelta | int | float) and not isinstance(item, bool):
        return Reminder(_seconds(item, f"{where}: a remind= offset before due", positive=False))
    raise InvalidInput(
        f"{where}: remind= takes daytwo.before(duration), daytwo.at_due() or durations "
        f"before the due time, not {item!r}"
    )
