"""The replay check at a pending wait: the code must still be doing what the instance waits in.

An instance that suspended at position ``seq`` has no history row there yet, only its wait
columns (``wait_kind``, ``wait_name``). When replay reaches that position, the operation the
code now calls must be the one waited for; otherwise the instance is INCOMPATIBLE with a
reason that says what it was waiting for, in an operator's words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daytwo._errors import Divergence
from daytwo.engine._family import child_workflow
from daytwo.store import HistoryKind, WaitKind

__all__ = ["check_pending_wait"]

#: Waits at a step call (its history row is a ``step`` one).
_STEP_WAITS = frozenset(
    {
        WaitKind.RETRY,
        WaitKind.ATTEMPT,
        WaitKind.PAUSED,
        WaitKind.THROTTLED,
        WaitKind.PARKED,
        WaitKind.CIRCUIT,
    }
)


def check_pending_wait(
    values: Mapping[str, Any],
    history: Sequence[dict[str, Any]],
    seq: int,
    kind: HistoryKind | str,
    name: str,
) -> None:
    """Raise :class:`Divergence` unless the wait in ``values`` is operation ``kind name``."""
    wait_kind, wait_name = values["wait_kind"], values["wait_name"]
    expected = HistoryKind.STEP if wait_kind in _STEP_WAITS else wait_kind
    # A child wait is named by the child's id; its history row by the child's workflow.
    workflow = child_workflow(history, wait_name) if wait_kind == WaitKind.CHILD else ""
    if (expected, workflow or wait_name) == (kind, name):
        return
    waiting = {
        WaitKind.RETRY: f"a retry of step {wait_name!r}",
        WaitKind.ATTEMPT: f"step {wait_name!r} (an attempt was running)",
        WaitKind.PAUSED: f"paused step {wait_name!r}",
        WaitKind.THROTTLED: f"a slot for step {wait_name!r}",
        WaitKind.PARKED: f"an operator (step {wait_name!r} is parked)",
        WaitKind.CIRCUIT: f"an open circuit before step {wait_name!r}",
        WaitKind.TIMER: f"timer {wait_name!r}",
        WaitKind.SIGNAL: f"signal {wait_name!r}",
        WaitKind.TASK: f"human task {wait_name!r}",
        WaitKind.CHILD: f"the end of child workflow {workflow!r} (id {wait_name!r})",
    }.get(wait_kind, f"{wait_kind} {wait_name!r}")
    raise Divergence(
        f"at position {seq} the instance is waiting for {waiting} but the workflow now "
        f"calls {kind} {name!r}",
        seq,
    )
