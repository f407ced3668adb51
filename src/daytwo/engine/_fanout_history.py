"""The rows of an unfinished fan-out: kept out of the dense history, closed when it stops.

See ``_fanout.py`` for why a fan-out's rows can leave gaps. This module has what the rest
of a run needs about them: splitting the rows after the first gap off a loaded history
(:func:`take_open_fanout`, when a run begins), writing a branch's row without putting it
into the dense history (:func:`buffer_row`), and closing a fan-out that stops without all
its branches (:func:`close_open_fanout`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from daytwo.store import HistoryKind, HistoryOutcome

if TYPE_CHECKING:
    from daytwo.engine._durable import DurableRun

__all__ = [
    "FAILED",
    "NOT_RUN",
    "branch_names",
    "buffer_row",
    "close_fanout",
    "close_open_fanout",
    "take_open_fanout",
]

FAILED = HistoryOutcome.FAILED.value
#: The outcome of a branch that never ran (or whose result was dropped): the fan-out
#: stopped first.
NOT_RUN = HistoryOutcome.CANCELLED.value


def branch_names(detail: dict[str, Any]) -> list[str]:
    if "step" in detail:
        return [detail["step"]] * int(detail["branches"])
    return list(detail.get("steps", []))


def close_fanout(run: DurableRun, head: int, count: int, rows: dict[int, Any]) -> None:
    """Every branch has its row: make the in-memory history dense again."""
    for index in range(len(run.history) - head - 1, count):
        run.history.append(rows[index])
        run._fanout_tail.pop(head + 1 + index, None)
    run.values["history_size"] = len(run.history)


def buffer_row(run: DurableRun, seq: int, name: str, outcome: str, **fields: Any) -> dict[str, Any]:
    """A branch's history row, written at the next durable point but kept out of
    ``run.history`` until the fan-out is over (see the module docstring)."""
    now = run._now()
    detail = fields.pop("detail", None)
    row = {
        "instance_id": run.instance_id,
        "seq": seq,
        "kind": HistoryKind.STEP.value,
        "name": name,
        "outcome": outcome,
        "args": fields.get("args"),
        "result": fields.get("result"),
        "error": fields.get("error"),
        "attempt": fields.get("attempt", 1),
        "idempotency_key": fields.get("idempotency_key"),
        "started_at": fields.get("started_at", now),
        "finished_at": now,
        "detail": json.dumps(detail) if detail else None,
    }
    run._new_history.append(row)
    return row


def _split(history: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Cut ``history`` (ordered by position) at its first gap; return the rows after it.

    Only an unfinished fan-out leaves gaps (see the module docstring); the common case,
    a dense history, costs one comparison.
    """
    if not history or history[-1]["seq"] == len(history) - 1:
        return {}
    first_gap = next(index for index, row in enumerate(history) if row["seq"] != index)
    tail = {row["seq"]: row for row in history[first_gap:]}
    del history[first_gap:]
    return tail


def close_open_fanout(run: DurableRun, reason: str) -> None:
    """The instance ends without going back into its unfinished fan-out: every branch
    position without a row gets a ``cancelled`` one (see the module docstring)."""
    if run.values["history_size"] <= len(run.history):
        return
    # The open fan-out is the last operation, so its head is the last one recorded.
    heads = (row["seq"] for row in reversed(run.history) if row["kind"] == HistoryKind.GATHER)
    head = next(heads, None)
    if head is None:
        return
    detail = json.loads(run.history[head]["detail"])
    names = branch_names(detail)
    rows: dict[int, Any] = {}
    for index, name in enumerate(names):
        seq = head + 1 + index
        row = run.history[seq] if seq < len(run.history) else run._fanout_tail.get(seq)
        if row is None:
            row = buffer_row(run, seq, name, NOT_RUN, detail={"not_run": reason})
        rows[index] = row
    close_fanout(run, head, len(names), rows)


def take_open_fanout(run: DurableRun) -> None:
    """When a run begins: split off the rows of an unfinished fan-out, and close it if the
    run will not go back into it (the instance compensates or is cancelled)."""
    run._fanout_tail = _split(run.history)
    run._recorded_len = len(run.history)
    if run.values["history_size"] <= len(run.history):
        return
    if run.values["error"] is not None:
        close_open_fanout(run, "the instance failed and compensates")
    elif run.cancel_reason is not None:
        close_open_fanout(run, "the instance was cancelled")
