"""Why is it stuck: what one instance waits for, and what an operator can do about it now.

:func:`explain` turns the facts the store gathers about an instance
(``daytwo.store.InstanceFacts``) into an :class:`Explanation`: the lines of "what it waits
for and why" — the awaited signal or task and its assignee, the timer and when it fires,
the pending attempt and its last error, the pause, the open circuit, the dependency limit,
the queue nobody serves, the lease holder and when its lease expires — and the operator
actions that apply in its state, each with the command that does it. ``daytwo explain ID``
prints it on one screen; ``client.explain(id)`` returns it; the console will show it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daytwo._records import Instance
from daytwo._timeouts import in_words
from daytwo.store import (
    DEADLINE_REASON,
    WAKEABLE_WAITS,
    InstanceFacts,
    InstanceStatus,
    OperatorAction,
    WaitKind,
)

__all__ = ["ApplicableAction", "Explanation", "explain"]


@dataclass(frozen=True)
class ApplicableAction:
    """An operator action that applies to the instance now, and the command that does it."""

    action: OperatorAction
    command: str
    #: What it does, for this instance.
    effect: str


@dataclass(frozen=True)
class Explanation:
    """What an instance waits for and why, and the actions that apply now."""

    instance: Instance
    #: One line: status, state and for how long.
    summary: str
    #: What it waits for and why, one line each (for an ended instance, only a deadline
    #: it exceeded).
    reasons: list[str]
    actions: list[ApplicableAction]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "instance": self.instance.to_dict(),
            "summary": self.summary,
            "reasons": self.reasons,
            "actions": [
                {"action": str(a.action), "command": a.command, "effect": a.effect}
                for a in self.actions
            ],
        }


def _at(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _span(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _error_line(error_text: str | None) -> str:
    if error_text is None:
        return ""
    error = json.loads(error_text)
    return f"{error.get('type')}: {error.get('message')}"


def explain(facts: InstanceFacts, instance: Instance, now: float) -> Explanation:
    """The explanation of ``instance`` from ``facts`` read at ``now``."""
    row = facts.row
    since = now - row["state_entered_at"]
    summary = (
        f"{instance.id} ({row['workflow']} {row['version']}) is {row['status']} in state "
        f"{row['state']!r} since {_at(row['state_entered_at'])} ({_span(since)})"
    )
    if instance.status.terminal:
        reasons = (
            [] if _deadline_error(row) is None else [f"deadline passed: {_deadline_error(row)}"]
        )
    else:
        reasons = _deadline_lines(row, now) + _reasons(facts, instance, now)
    return Explanation(instance, summary, reasons, _actions(facts, instance))


def _deadline_error(row: Any) -> str | None:
    """The message of an instance that failed for exceeding its deadline."""
    error = None if row["error"] is None else json.loads(row["error"])
    if error is None or error.get("type") != "DeadlineExceeded":
        return None
    return str(error.get("message"))


def _deadline_lines(row: Any, now: float) -> list[str]:
    """When a live instance's deadline is (``timeout=``), or that it has passed."""
    deadline = row.get("deadline_at")
    if row["wait_kind"] == WaitKind.DEADLINE:
        return ["deadline passed: the workflow parks on failure, so it waits for an operator "
                "(resume: go on without a deadline; abort: compensate)"]  # fmt: skip
    if deadline is None or _deadline_error(row) is not None:
        return []
    if deadline > now:
        return [f"deadline in {in_words(deadline - now)} (at {_at(deadline)}): it fails "
                "DeadlineExceeded if still active then"]  # fmt: skip
    return [f"deadline passed at {_at(deadline)} ({in_words(now - deadline)} ago): it fails "
            "DeadlineExceeded (or parks) at its next durable point"]  # fmt: skip


def _reasons(facts: InstanceFacts, instance: Instance, now: float) -> list[str]:
    row = facts.row
    kind, name = row["wait_kind"], row["wait_name"]
    lines: list[str] = []
    if row["cancel_reason"] == DEADLINE_REASON:
        pass  # said by the deadline's own line
    elif row["cancel_reason"] is not None and row["error"] is None:
        lines.append(f"a cancel is pending ({row['cancel_reason']}): it takes effect at the "
                     "next durable point")  # fmt: skip
    if row["error"] is not None:
        lines.append(f"compensating after: {_error_line(row['error'])}")
    status = row["status"]
    if status == InstanceStatus.RUNNING:
        lines.extend(_running(facts, now))
    elif status == InstanceStatus.RUNNABLE:
        lines.append(
            f"runnable since {_at(row['run_at'])} in queue {row['queue']!r} (priority "
            f"{row['priority']}): waiting for a worker to claim it"
        )
    elif kind == WaitKind.SIGNAL:
        until = row["wake_at"]
        lines.append(
            f"waits for signal {name!r}"
            + ("" if until is None else f"; times out at {_at(until)} (in {_span(until - now)})")
            + f"; send it: daytwo instance signal {row['id']} {name} 'JSON'"
        )
    elif kind == WaitKind.TASK:
        lines.append(_task_line(facts, now, name))
    elif kind == WaitKind.TIMER:
        until = row["wake_at"] or 0.0
        lines.append(f"a timer ({name}) fires at {_at(until)} (in {_span(until - now)})")
    elif kind == WaitKind.RETRY:
        until = row["wake_at"] or 0.0
        lines.append(
            f"step {name!r} failed attempt {row['attempt']}; attempt {row['attempt'] + 1} at "
            f"{_at(until)} (in {_span(until - now)})"
        )
    elif kind == WaitKind.PAUSED:
        lines.append(_pause_line(facts, name))
    elif kind == WaitKind.THROTTLED:
        lines.append(_dependency_line(facts, name))
    elif kind == WaitKind.CIRCUIT:
        lines.append(_circuit_line(facts, name, now))
    elif kind == WaitKind.CHILD:
        lines.append(_child_line(facts, name))
    elif kind == WaitKind.PARKED:
        lines.append(
            f"parked at step {name!r} after {row['attempt']} attempt(s): its failure policy "
            "is park, and it waits for an operator"
        )
    elif kind == WaitKind.DEADLINE:
        pass  # said by the deadline's own line
    elif kind is not None:
        # A wait kind of a later release (a parked step, an open circuit): its state label
        # names it ("parked:charge", "circuit open: payments-api").
        until = row["wake_at"]
        lines.append(
            f"waits ({kind}) at {name!r}: {row['state']}"
            + ("" if until is None else f"; until {_at(until)} (in {_span(until - now)})")
        )
    if facts.fanout is not None:
        lines.append(_fanout_line(facts))
    if facts.last_attempt is not None and status != InstanceStatus.RUNNING:
        lines.append(f"last error: {_error_line(facts.last_attempt['error'])}")
    if instance.held_by is not None:
        lines.append(f"due, but {instance.held_by}")
    for signal, count in sorted(facts.unconsumed_signals.items()):
        lines.append(f"{count} signal(s) {signal!r} delivered and not yet taken by a wait")
    return lines


def _running(facts: InstanceFacts, now: float) -> list[str]:
    row = facts.row
    holder = facts.lease_holder
    expires = row["run_at"] or 0.0
    who = (
        f"worker {row['lease_owner']}"
        if holder is None
        else f"worker {holder.id} on {holder.host} (pid {holder.pid}, last heartbeat "
        f"{_span(now - holder.heartbeat_at)} ago)"
    )
    lease = (
        f"its lease expired {_span(now - expires)} ago: another worker takes it over"
        if expires <= now
        else f"its lease expires at {_at(expires)} (in {_span(expires - now)})"
    )
    step = ""
    if row["wait_kind"] == WaitKind.ATTEMPT:
        step = f", attempt {row['attempt']} of step {row['wait_name']!r} in flight"
    lines = [f"running on {who}{step}; {lease}"]
    if facts.last_attempt is not None:
        lines.append(f"previous attempt: {_error_line(facts.last_attempt['error'])}")
    return lines


def _child_line(facts: InstanceFacts, child_id: str | None) -> str:
    child = facts.child
    if child is None:
        return f"waits for the end of child instance {child_id!r}, which is not stored (purged?)"
    hint = " (it needs an operator; its end wakes this one)" if child.status == (
        InstanceStatus.NEEDS_ATTENTION) else ""  # fmt: skip
    return (
        f"waits for the end of child instance {child.id!r} (workflow {child.workflow}): it is "
        f"{child.status} in state {child.state!r}{hint}; see: daytwo explain {child.id}"
    )


def _fanout_line(facts: InstanceFacts) -> str:
    fanout = facts.fanout
    assert fanout is not None
    waiting = fanout.branches - fanout.completed - fanout.failed
    return (
        f"in the fan-out {fanout.name!r} at position {fanout.seq}: {fanout.completed} of "
        f"{fanout.branches} branch(es) done, {fanout.failed} failed, {waiting} not done yet"
        + (f" ({fanout.retrying} of them after failed attempts)" if fanout.retrying else "")
    )


def _task_line(facts: InstanceFacts, now: float, name: str | None) -> str:
    task = facts.task
    if task is None:
        return f"waits for human task {name!r}"
    who = task["assignee"] or "nobody (unassigned)"
    due = task["due_at"]
    when = ""
    if due is not None:
        late = now - due
        when = f", overdue by {_span(late)}" if late > 0 else f", due in {_span(-late)}"
    return f"waits for human task {name!r} ({task['id']}) assigned to {who}{when}"


def _pause_line(facts: InstanceFacts, name: str | None) -> str:
    row, pause = facts.row, facts.pause
    undo = f"daytwo workflow resume {row['workflow']} --step {name}"
    if pause is None:
        return f"held at paused step {name!r} (the pause was lifted: it runs soon); {undo}"
    who = f" by {pause.paused_by}" if pause.paused_by else ""
    why = f": {pause.reason}" if pause.reason else ""
    return f"held at step {name!r}, paused{who} at {_at(pause.paused_at)}{why}; {undo}"


def _dependency_line(facts: InstanceFacts, name: str | None) -> str:
    dependency = facts.dependency
    if dependency is None:
        return f"waits for a dependency slot for step {name!r}"
    limit = "no limit" if dependency.limit is None else f"limit {dependency.limit}"
    return (
        f"step {name!r} waits for a slot of dependency {dependency.name!r} ({limit}, "
        f"{dependency.in_flight} call(s) in flight); daytwo dependency set {dependency.name} "
        "--concurrency N"
    )


def _circuit_line(facts: InstanceFacts, name: str | None, now: float) -> str:
    circuit = facts.circuit
    if circuit is None:
        return f"step {name!r} waits for the circuit of its dependency to close"
    state = circuit.state.replace("_", "-")
    line = (
        f"step {name!r} waits: the circuit of {circuit.name!r} is {state} since "
        f"{_at(circuit.since)}"
    )
    if circuit.until is not None and circuit.until > now:
        line += f"; it may half-open at {_at(circuit.until)} (in {_span(circuit.until - now)})"
    elif circuit.until is not None:
        line += "; it may half-open now (the next probe call decides)"
    if circuit.changed_by and circuit.state.startswith("forced"):
        line += f" (forced by {circuit.changed_by}" + (
            f": {circuit.reason})" if circuit.reason else ")"
        )
    return line + "; no attempt is spent while it waits"


def _actions(facts: InstanceFacts, instance: Instance) -> list[ApplicableAction]:
    row = facts.row
    iid, status, kind = row["id"], row["status"], row["wait_kind"]
    found: list[ApplicableAction] = []

    def add(action: OperatorAction, verb: str, effect: str, extra: str = "") -> None:
        found.append(ApplicableAction(action, f"daytwo instance {verb} {iid}{extra}", effect))

    if instance.status.terminal:
        add(OperatorAction.RESTART, "restart", "start a new instance with the same input")
        add(OperatorAction.FORK, "fork", "a new instance that reuses the results before "
            "POSITION", " POSITION")  # fmt: skip
        return found
    if kind == WaitKind.DEADLINE:
        add(OperatorAction.RESUME, "resume", "go on from where the deadline met it, without one")
        add(OperatorAction.ABORT, "abort", "compensate its completed steps and end")
    elif status == InstanceStatus.NEEDS_ATTENTION:
        add(OperatorAction.RETRY, "retry", "run the parked step again now (same idempotency key)")
        add(OperatorAction.SKIP, "skip", "record RESULT as the step's result and go on",
            " RESULT_JSON")  # fmt: skip
        add(OperatorAction.RESUME, "resume", "continue under the code deployed now")
    elif kind == WaitKind.RETRY:
        add(OperatorAction.RETRY, "retry", "run the next attempt now")
        add(OperatorAction.SKIP, "skip", "record RESULT as the step's result and go on",
            " RESULT_JSON")  # fmt: skip
    if status == InstanceStatus.WAITING and row["wake_at"] is not None and kind in WAKEABLE_WAITS:
        add(OperatorAction.WAKE, "wake", "end the wait now")
    if kind == WaitKind.TASK and facts.task is not None and status == InstanceStatus.WAITING:
        task_id = facts.task["id"]
        for action, verb, effect, extra in (
            (OperatorAction.TASK_COMPLETE, "complete", "decide the task", " RESULT_JSON"),
            (OperatorAction.TASK_REASSIGN, "reassign", "give it to someone else", " WHO"),
            (OperatorAction.TASK_CANCEL, "cancel", "cancel the task", ""),
        ):
            found.append(ApplicableAction(action, f"daytwo task {verb} {task_id}{extra}", effect))
    if facts.circuit is not None and status == InstanceStatus.WAITING:
        name = facts.circuit.name
        found.append(
            ApplicableAction(
                OperatorAction.BREAKER_CLOSE,
                f"daytwo breaker close {name}",
                "let calls through now (for every instance waiting at it)",
            )
        )
    if row["error"] is None and row["cancel_reason"] is None:
        add(OperatorAction.CANCEL, "cancel", "stop at the next durable point and compensate")
        add(OperatorAction.ABORT, "abort", "end now with compensation")
    add(OperatorAction.TERMINATE, "terminate", "end now without compensation")
    return found
