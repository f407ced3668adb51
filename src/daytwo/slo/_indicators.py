"""SLI measurements: good, bad and valid events of one objective over windows ending now.

Event indicators read the bucket aggregates (``_buckets.py``); the cycle-time indicator adds
the active instances whose target passed inside the window (bad at once, counted from the
instances index); the success indicator adds the instances parked now (NEEDS_ATTENTION: they
require manual intervention) that parked inside the window, bad at once — counted from the
instances, not as an event when they park, so one that is retried and succeeds later is one
valid event (its end), never two; the rate indicators count retries (compensations) when
they happen, per instance alive in the window: ended in it, or active now (so a retry storm
that ends nothing still has a denominator and burns the budget while it lasts); the stuck
ratio is a gauge sampled at each evaluation, so its windows sum the samples stored by
earlier evaluations plus the one taken now.

Each objective also has a last event (:meth:`Indicators.last_event`): when its SLI last
counted a valid event. The no-data alert compares it with ``now``, in the engine and in
Prometheus (``daytwo_slo_last_event_timestamp_seconds``) alike.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from daytwo._errors import InvalidInput
from daytwo.slo._buckets import Buckets, OlderCache, last_end, load_buckets
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
from daytwo.slo._tables import slo_evaluations
from daytwo.store import ACTIVE_STATUSES, InstanceStatus, Store, instances

__all__ = ["Indicators", "check_dependencies", "event_measure"]

_ACTIVE = sorted(ACTIVE_STATUSES)


def event_measure(
    sli: CycleTime | Success | RetryRate | CompensationRate,
    counts: Mapping[str, int],
    dependencies: Mapping[str, str],
    *,
    late: int = 0,
    active: int = 0,
    parked: int = 0,
) -> Measure:
    """The measure of an event SLI over ``counts`` (events per bucket series, see
    ``store/_aggregates.py``); ``late`` active instances past a cycle-time target are bad;
    ``active`` instances (alive now) are valid events of the rate indicators; ``parked``
    instances (NEEDS_ATTENTION now) are bad events of the success indicator."""
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
        return Measure(ended + active - bad, bad, ended + active)
    good = sum(n for series, n in counts.items() if series.startswith("end:SUCCEEDED:"))
    return Measure(good, ended - good + parked, ended + parked)


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
        self._active: dict[tuple[str, str | None], int] = {}
        self._last_end: dict[tuple[str, str | None], float | None] = {}
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
        # Alive now, so alive in every window that ends now.
        active = self.active(objective) if isinstance(sli, RetryRate | CompensationRate) else 0
        parked = self._parked(objective, starts) if isinstance(sli, Success) else {}
        return {
            name: event_measure(
                sli,
                buckets.window(start),
                self.dependencies,
                late=late[name] if isinstance(sli, CycleTime) else 0,
                active=active,
                parked=parked.get(name, 0),
            )
            for name, start in starts.items()
        }

    def _parked(self, objective: Objective, starts: Mapping[str, float]) -> dict[str, int]:
        """Instances NEEDS_ATTENTION now that parked (entered that state) in each window."""
        columns = [
            sa.func.sum(sa.case((instances.c.state_entered_at >= start, 1), else_=0))
            for start in starts.values()
        ]
        query = sa.select(*columns).where(
            instances.c.workflow == objective.workflow,
            instances.c.status == InstanceStatus.NEEDS_ATTENTION,
        )
        if objective.version is not None:
            query = query.where(instances.c.version == objective.version)
        with self.store.read() as conn:
            row = conn.execute(query).one()
        return {name: int(value or 0) for name, value in zip(starts, row, strict=True)}

    def _last_parked(self, objective: Objective) -> float | None:
        """When the latest instance parked now parked."""
        query = sa.select(sa.func.max(instances.c.state_entered_at)).where(
            instances.c.workflow == objective.workflow,
            instances.c.status == InstanceStatus.NEEDS_ATTENTION,
        )
        if objective.version is not None:
            query = query.where(instances.c.version == objective.version)
        with self.store.read() as conn:
            parked = conn.execute(query).scalar_one()
        return None if parked is None else float(parked)

    def active(self, objective: Objective) -> int:
        """Active instances of the objective's workflow (and version) now."""
        key = (objective.workflow, objective.version)
        if key not in self._active:
            query = sa.select(sa.func.count()).where(
                instances.c.workflow == objective.workflow, instances.c.status.in_(_ACTIVE)
            )
            if objective.version is not None:
                query = query.where(instances.c.version == objective.version)
            with self.store.read() as conn:
                self._active[key] = int(conn.execute(query).scalar_one())
        return self._active[key]

    def last_event(self, objective: Objective) -> float | None:
        """When the objective's SLI last counted a valid event (None: never).

        Ends count for every indicator; the rate indicators and the stuck ratio also count
        the instances active now (valid events of theirs at this very moment); the cycle
        time counts an active instance when its target passes (it turns bad then), the
        success indicator an instance when it parks.
        """
        key = (objective.workflow, objective.version)
        if key not in self._last_end:
            self._last_end[key] = last_end(self.store, objective.workflow, objective.version)
        moments = [self._last_end[key]]
        sli = objective.sli
        if isinstance(sli, RetryRate | CompensationRate):
            moments.append(self.now if self.active(objective) else None)
        elif isinstance(sli, StuckRatio):
            active = self.samples[objective.name][1] if objective.name in self.samples else 0
            moments.append(self.now if active else None)
        elif isinstance(sli, CycleTime):
            moments.append(self._last_late(objective, sli.within.total_seconds()))
        elif isinstance(sli, Success):
            moments.append(self._last_parked(objective))
        known = [min(moment, self.now) for moment in moments if moment is not None]
        return max(known, default=None)

    def _last_late(self, objective: Objective, within: float) -> float | None:
        """When the target of the latest active instance past it passed."""
        query = sa.select(sa.func.max(instances.c.created_at)).where(
            instances.c.workflow == objective.workflow,
            instances.c.status.in_(_ACTIVE),
            instances.c.created_at < self.now - within,
        )
        if objective.version is not None:
            query = query.where(instances.c.version == objective.version)
        with self.store.read() as conn:
            created = conn.execute(query).scalar_one()
        return None if created is None else float(created) + within

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
