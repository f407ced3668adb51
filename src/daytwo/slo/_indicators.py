"""SLI measurements: good, bad and valid events of one objective over windows ending now.

Event indicators read the bucket aggregates (``_buckets.py``); the cycle-time indicator adds
the active instances whose target passed inside the window (bad at once, counted from the
instances index); the stuck ratio is a gauge sampled at each evaluation, so its windows sum
the samples stored by earlier evaluations plus the one taken now.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from daytwo._errors import InvalidInput
from daytwo.slo._buckets import Buckets, OlderCache, load_buckets
from daytwo.slo._definitions import (
    CompensationRate,
    CycleTime,
    Objective,
    RetryRate,
    StuckRatio,
    Success,
)
from daytwo.slo._results import Measure
from daytwo.slo._stuck import count_stuck, state_thresholds
from daytwo.store import ACTIVE_STATUSES, Store
from daytwo.store._schema import instances, slo_evaluations

__all__ = ["Indicators", "check_dependencies", "event_measure"]

_ACTIVE = sorted(ACTIVE_STATUSES)


def event_measure(
    sli: CycleTime | Success | RetryRate | CompensationRate,
    counts: Mapping[str, int],
    dependencies: Mapping[str, str],
    *,
    late: int = 0,
) -> Measure:
    """The measure of an event SLI over ``counts`` (events per bucket series, see
    ``store/_aggregates.py``); ``late`` active instances past a cycle-time target are bad."""
    ended = sum(n for series, n in counts.items() if series.startswith("end:"))
    if isinstance(sli, CycleTime):
        limit = sli.within.total_seconds()
        good = sum(
            n
            for series, n in counts.items()
            if series.startswith("end:") and float(series.rsplit(":", 1)[1]) <= limit
        )
        bad = ended - good + late
        return Measure(good, bad, good + bad)
    if isinstance(sli, RetryRate | CompensationRate):
        prefix = "retry:" if isinstance(sli, RetryRate) else "comp:"
        bad = sum(
            n
            for series, n in counts.items()
            if series.startswith(prefix) and sli.covers(series[len(prefix) :], dependencies)
        )
        return Measure(ended - bad, bad, ended)
    good = sum(n for series, n in counts.items() if series.startswith("end:SUCCEEDED:"))
    return Measure(good, ended - good, ended)


class Indicators:
    """Measures objectives at ``now``; caches what several objectives share."""

    def __init__(
        self,
        store: Store,
        now: float,
        plans: Mapping[Objective, Mapping[str, float]],
        dependencies: Mapping[str, str],
        cache: OlderCache | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.now = now
        self.dependencies = dependencies
        # Every window start per (workflow, version), so one read serves all its objectives.
        self._starts: dict[tuple[str, str | None], set[float]] = {}
        for objective, starts in plans.items():
            key = (objective.workflow, objective.version)
            self._starts.setdefault(key, set()).update(starts.values())
        self._buckets: dict[tuple[str, str | None], Buckets] = {}
        #: (stuck, active) now per stuck objective, filled by :meth:`measures`.
        self.samples: dict[str, tuple[int, int]] = {}

    def _counts(self, objective: Objective) -> Buckets:
        key = (objective.workflow, objective.version)
        if key not in self._buckets:
            self._buckets[key] = load_buckets(
                self.store, objective.workflow, objective.version, self.now,
                sorted(self._starts.get(key, ())), self.cache,
            )  # fmt: skip
        return self._buckets[key]

    def measures(self, objective: Objective, starts: Mapping[str, float]) -> dict[str, Measure]:
        """A :class:`Measure` for each named window ``[start, now)``."""
        sli = objective.sli
        if isinstance(sli, StuckRatio):
            return self._stuck(objective, sli, starts)
        buckets = self._counts(objective)
        if isinstance(sli, CycleTime):
            late = self._active_late(objective, sli.within.total_seconds(), starts)
        return {
            name: event_measure(
                sli,
                buckets.window(start),
                self.dependencies,
                late=late[name] if isinstance(sli, CycleTime) else 0,
            )
            for name, start in starts.items()
        }

    def _active_late(
        self, objective: Objective, within: float, starts: Mapping[str, float]
    ) -> dict[str, int]:
        """Active instances whose target (created_at + within) passed in each window."""
        deadline_cut = self.now - within
        earliest = min(starts.values()) - within
        columns = [
            sa.func.sum(sa.case((instances.c.created_at >= start - within, 1), else_=0))
            for start in starts.values()
        ]
        query = sa.select(*columns).where(
            instances.c.workflow == objective.workflow,
            instances.c.status.in_(_ACTIVE),
            instances.c.created_at < deadline_cut,
            instances.c.created_at >= earliest,
        )
        if objective.version is not None:
            query = query.where(instances.c.version == objective.version)
        with self.store.read() as conn:
            row = conn.execute(query).one()
        return {name: int(value or 0) for name, value in zip(starts, row, strict=True)}

    def _stuck(
        self, objective: Objective, sli: StuckRatio, starts: Mapping[str, float]
    ) -> dict[str, Measure]:
        thresholds = state_thresholds(self.store, objective.workflow, sli)
        stuck, active = count_stuck(
            self.store, objective.workflow, objective.version, thresholds, self.now
        )
        self.samples[objective.name] = (stuck, active)
        names = list(starts)
        columns = [
            sa.func.sum(sa.case((slo_evaluations.c.at >= starts[name], column), else_=0))
            for name in names
            for column in (slo_evaluations.c.good, slo_evaluations.c.valid)
        ]
        # The samples of earlier evaluations, summed per window by the database.
        query = sa.select(*columns).where(
            slo_evaluations.c.objective == objective.name,
            slo_evaluations.c.at >= min(starts.values(), default=self.now),
            slo_evaluations.c.at < self.now,
        )
        with self.store.read() as conn:
            sums = conn.execute(query).one()
        result = {}
        for index, name in enumerate(names):
            good = float(active - stuck) + float(sums[2 * index] or 0)
            valid = float(active) + float(sums[2 * index + 1] or 0)
            result[name] = Measure(good, valid - good, valid)
        return result


def check_dependencies(objectives: list[Objective], dependencies: Mapping[str, str]) -> None:
    """Refuse dependency-scoped objectives whose dependency no known step names."""
    known = set(dependencies.values())
    for objective in objectives:
        sli = objective.sli
        if (
            isinstance(sli, RetryRate | CompensationRate)
            and sli.dependency is not None
            and sli.dependency not in known
        ):
            hint = (
                f"steps declare: {', '.join(sorted(known))}"
                if known
                else "load the app (--app MODULE:APP) so its steps' dependencies are known"
            )
            raise InvalidInput(
                f"objective {objective.name!r}: no step declares dependency "
                f"{sli.dependency!r}; {hint}"
            )
