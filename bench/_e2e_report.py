"""The report parts of ``bench_e2e.py``: what each measurement is, targets, summary.

* :data:`HOW` -- the description of each part of a backend section, put in the document.
* :func:`targets` -- issue 11's targets for one backend as same-run ratios
  (``_common.target``); a target whose figure was skipped (``app.start_many`` missing)
  has ``pass: null``, one whose measurement failed ``pass: false``.
* :func:`summary` -- the headline figures per backend.

Importing this module has no side effects.
"""

from __future__ import annotations

from _common import Result, target

__all__ = ["HOW", "summary", "targets"]

#: What each part of a backend section measures (copied into the document).
HOW = {
    "raw": "one-row commits with plain sqlite3 (WAL, FULL) in the same directory / psycopg on "
    "the same server, right before and right after the daytwo parts; ratios use the mean",
    "starts": "app.start(three, i) on a fresh database with no worker: one after another "
    "from one thread; from 8 threads of this process; app.start_many in batches",
    "pre_inserted": "PRE-INSERTED: M instances bulk-inserted in one transaction beforehand, "
    "then worker processes (daytwo worker, concurrency 32) run them; timed from telling the "
    "workers to go to the last finished_at",
    "end_to_end": "closed loop: a producer process whose 8 threads call app.start as fast as "
    "they can for N instances while worker processes run them; timed from the first stored "
    "created_at to the last finished_at",
    "open_loop": "the producer process starts instance i at t0 + i / rate (50% and 90% of the "
    "end-to-end rate) for a fixed time; start_to_finish is finished_at - created_at per "
    "instance (both stored, one machine's clock); scheduled_to_finish counts from when the "
    "start was due; kept_up: achieved >= 95% of the rate and the backlog drained within 1 s",
}


#: The reason of a target whose measurement failed (its error is in the section).
FAILED = "no figure: the measurement failed (see its error)"


def missing(name: str, goal: float, why: str, *, below: bool = False) -> Result:
    """A target without its figure: not met if the measurement failed, unchecked (``pass``
    None) if it was skipped."""
    check: Result = {"target": f"{name} {'<' if below else '>='} {goal:g}"}
    if why == FAILED:
        return {**check, "pass": False, "error": why}
    return {**check, "pass": None, "skipped": why}


def targets(backend: str, section: Result) -> list[Result]:
    """Issue 11's targets for one backend, as same-run ratios."""
    checks: list[tuple[str, float | None, float, bool, str]] = []
    starts = section["starts"] if "error" not in section["starts"] else {}
    e2e = section["end_to_end"]
    for key, name, goal in (("one_thread", "app.start one thread", 0.5),
                            ("8_threads", "app.start 8 threads", 1.0)):  # fmt: skip
        value = starts.get(key, {}).get("ratio_to_raw")
        checks.append((f"{name} starts_per_s / raw commits_per_s", value, goal, False, FAILED))
    batch = starts.get("batch", {})
    why = str(batch.get("skipped", FAILED))
    checks.append(("app.start_many starts_per_s", batch.get("starts_per_s"), 20_000, False, why))
    workers = f"{e2e.get('worker_processes', '?')} worker process(es)"
    for key, name, goal in (("ratio_to_pre_inserted", "pre-inserted", 0.7),
                            ("ratio_to_raw", "raw commits_per_s", 0.25),
                            ("ratio_to_dbos", "DBOS end to end", 5.0)):  # fmt: skip
        label = f"end to end ({workers}) workflows_per_s / {name} workflows_per_s"
        if key == "ratio_to_raw":
            label = f"end to end ({workers}) workflows_per_s / raw commits_per_s"
        checks.append((label, e2e.get(key), goal, False, FAILED))
    if backend == "sqlite":
        half = [o for o in section["open_loop"] if o.get("fraction") == 0.5]
        p99 = half[0].get("start_to_finish", {}).get("p99_ms") if half else None
        checks.append(("start-to-finish p99_ms at 50% of sustained", p99, 20.0, True, FAILED))
    return [
        missing(name, goal, why, below=below) if value is None
        else target(name, value, goal, below=below)
        for name, value, goal, below, why in checks
    ]  # fmt: skip


#: The end-to-end figures repeated in the summary.
_E2E_HEADLINE = (
    "workflows_per_s",
    "steps_per_s",
    "producer_starts_per_s",
    "ratio_to_pre_inserted",
    "ratio_to_raw",
    "ratio_to_dbos",
)


def open_loop_headline(run: Result) -> Result:
    """Rate, latency percentiles and whether the workers kept up, of one open-loop run."""
    latency = run.get("start_to_finish", {})
    return {
        "rate_per_s": run.get("rate_per_s"),
        **{key: latency.get(key) for key in ("p50_ms", "p90_ms", "p99_ms")},
        "kept_up": run.get("kept_up"),
    }


def summary(document: Result) -> Result:
    """The headline figures per backend."""
    lines: Result = {}
    for backend in document["backends"]:
        section = document[backend]
        starts = section["starts"] if "error" not in section["starts"] else {}
        e2e = section["end_to_end"]
        checked = document["targets"][backend]
        lines[backend] = {
            "raw_commits_per_s": section["raw"]["mean_commits_per_s"],
            "starts_per_s": {
                key: value.get("starts_per_s", value.get("skipped"))
                for key, value in starts.items()
            },
            "pre_inserted_workflows_per_s_by_workers": {
                run.get("worker_processes"): run.get("workflows_per_s")
                for run in section["pre_inserted"]
            },
            "end_to_end": {key: e2e.get(key) for key in _E2E_HEADLINE},
            "open_loop": {
                f"{round(run['fraction'] * 100)}%": open_loop_headline(run)
                for run in section["open_loop"]
            },
            "dbos_workflows_per_s": section["dbos"].get("workflows_per_s"),
            "targets_passed": sum(check["pass"] is True for check in checked),
            "targets_checked": sum(check["pass"] is not None for check in checked),
        }
    return lines
