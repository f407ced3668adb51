"""A fan-out's positions: its head, its branches' rows, replay and divergence.

``ctx.gather`` takes a *head* position (``HistoryKind.GATHER``, named after the step its
branches call, or ``gather`` when they call several; its detail records the number of
branches and their step names) followed by one position per branch, in argument order.
Branches finish in any order, and each branch's row is written as soon as it is known
(at the next durable point), so a crash loses only the branches in flight. Until the
fan-out is over its rows therefore leave gaps: the stored history is dense up to the first
unfinished branch, and the rows after it (:attr:`DurableRun._fanout_tail`, split off when
the run loads its history) are taken back by the gather when the workflow code reaches it
again. Only a fan-out can leave gaps, and only the last operation of an instance can be an
unfinished fan-out; meanwhile the instance's ``history_size`` is the end of the fan-out's
positions, so that nothing else is ever written inside them. A fan-out that stops without
all its branches (a cancel, a failure that ends the instance) is *closed*: every branch
position without a row gets a ``cancelled`` one, so the history is dense again before the
saga writes after it.

Running the branches is in ``_fanout_steps.py``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from daytwo._errors import BranchesFailed, Divergence, StepFailed
from daytwo.engine._durable import CLEAR_WAIT, COMPLETED
from daytwo.engine._fanout_history import FAILED, branch_names, close_fanout
from daytwo.engine._step_call import StepCall
from daytwo.store import HistoryKind

if TYPE_CHECKING:
    from daytwo.engine._runner import Run

__all__ = ["head_detail", "run_gather"]

#: The head's name when the branches call different steps.
MIXED = "gather"


def run_gather(
    run: Run, calls: list[StepCall[Any]], fail_fast: bool, concurrency: int | None
) -> list[Any]:
    """Execute (or replay) a fan-out at the next position; see the module docstring."""
    from daytwo.engine._fanout_steps import StepFanOut

    names = [call.name for call in calls]
    detail = head_detail(names)
    head = _replay_head(run, names, detail)
    count = len(calls)
    rows = _recorded_branches(run, head, calls)
    if len(rows) < count:
        # Nothing else is written inside the fan-out's positions (see the module docstring).
        run.values["history_size"] = max(run.values["history_size"], head + 1 + count)
        StepFanOut(run, head, calls, rows, fail_fast, concurrency).execute()
    close_fanout(run, head, count, rows)
    if run.values["wait_seq"] == head:  # (waiting here, or the marker of branches in flight)
        run.values.update(CLEAR_WAIT)
    return _outcome(run, calls, rows, fail_fast)


def head_detail(names: list[str]) -> dict[str, Any]:
    detail: dict[str, Any] = {"branches": len(names)}
    if names and all(name == names[0] for name in names):
        detail["step"] = names[0]
    elif names:
        detail["steps"] = names
    return detail


def _head_name(detail: dict[str, Any]) -> str:
    return str(detail.get("step", MIXED))


def _describe(detail: dict[str, Any]) -> str:
    count = detail["branches"]
    if "step" in detail:
        return f"a fan-out of {count} branch(es) of {detail['step']!r}"
    if not count:
        return "an empty fan-out"
    return f"a fan-out of {count} branch(es) of steps {', '.join(map(repr, detail['steps']))}"


def _replay_head(run: Run, names: list[str], detail: dict[str, Any]) -> int:
    """Take the head position: compare it with the recorded head, or record it."""
    seq = run.position
    if seq < len(run.history) and run.history[seq]["kind"] == HistoryKind.GATHER:
        recorded = json.loads(run.history[seq]["detail"])
        if recorded["branches"] != len(names):
            raise Divergence(
                f"at position {seq} the history records {_describe(recorded)} but the "
                f"workflow now fans out {len(names)}",
                seq,
            )
        for index, (was, now) in enumerate(zip(branch_names(recorded), names, strict=True)):
            if was != now:
                raise Divergence(
                    f"at position {seq + 1 + index} the history records branch {index} of the "
                    f"fan-out at position {seq} calling step {was!r} but the workflow now "
                    f"calls step {now!r}",
                    seq + 1 + index,
                )
    if run._replay(HistoryKind.GATHER, _head_name(detail)) is None:
        run._record(seq, HistoryKind.GATHER, _head_name(detail), COMPLETED, detail=detail)
    run.position = seq + 1 + len(names)
    return seq


def _recorded_branches(run: Run, head: int, calls: list[StepCall[Any]]) -> dict[int, Any]:
    """The recorded rows of the fan-out's branches, by branch index."""
    rows: dict[int, Any] = {}
    for index in range(len(calls)):
        seq = head + 1 + index
        row = run.history[seq] if seq < len(run.history) else run._fanout_tail.get(seq)
        if row is not None:
            rows[index] = row
    return rows


def _outcome(
    run: Run, calls: list[StepCall[Any]], rows: dict[int, Any], fail_fast: bool
) -> list[Any]:
    serde = run.runtime.serde
    failures: dict[int, StepFailed] = {}
    results: list[Any] = []
    for index, call in enumerate(calls):
        row = rows[index]
        if row["outcome"] == COMPLETED:
            results.append(serde.loads(row["result"]))
            continue
        results.append(None)
        if row["outcome"] == FAILED:
            error = json.loads(row["error"])
            failures[index] = StepFailed(call.name, error["type"], error["message"], row["attempt"])
    if not failures:
        if len(results) == len(calls) and all(row["outcome"] == COMPLETED for row in rows.values()):
            return results
        # Closed without a failure (the instance was cancelled meanwhile): nothing to return.
        first = min(index for index, row in rows.items() if row["outcome"] != COMPLETED)
        raise StepFailed(calls[first].name, "NotRun", "the fan-out stopped before it ran", 0)
    if fail_fast:
        raise failures[min(failures)]
    raise BranchesFailed(failures, results)
