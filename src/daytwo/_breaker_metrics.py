"""The circuit breakers' /metrics families, read from the store at each scrape.

A core collector (``App.collectors()``): every /metrics endpoint of an app serves it, so a
dashboard sees the breakers whether or not the app uses ``daytwo.slo``. It reads the
stored breakers, so every worker's endpoint reports the cluster's state, not its own.
``prometheus_client`` is imported when the collector is made (at the first scrape set-up),
not with daytwo.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from daytwo.store import BreakerControl, BreakerState, Store

__all__ = ["breaker_collector"]


def breaker_collector(store: Store) -> Any:
    """A ``prometheus_client`` collector of the breakers of ``store``'s database."""
    import time

    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    control = BreakerControl(store, time.time)

    class BreakerCollector(Collector):
        """``daytwo_breaker_state`` (1 for the state a breaker is in, 0 for the others),
        ``daytwo_breaker_window_calls`` (the calls in its window: all, failed, slow),
        ``daytwo_breaker_failure_rate`` and ``daytwo_breaker_waiting``."""

        def collect(self) -> Iterator[Any]:
            state = GaugeMetricFamily(
                "daytwo_breaker_state",
                "Circuit breaker state per dependency (1 for the current state)",
                labels=["dependency", "state"],
            )
            calls = GaugeMetricFamily(
                "daytwo_breaker_window_calls",
                "Calls in the breaker's sliding window: all, failed, slow (a slow failure is both)",
                labels=["dependency", "outcome"],
            )
            rate = GaugeMetricFamily(
                "daytwo_breaker_failure_rate",
                "Failed calls in the breaker's window, in percent",
                labels=["dependency"],
            )
            waiting = GaugeMetricFamily(
                "daytwo_breaker_waiting",
                "Instances waiting at the open circuit",
                labels=["dependency"],
            )
            for status in control.statuses():
                name = status.name
                for member in BreakerState:
                    state.add_metric([name, str(member)], float(member is status.state))
                window = status.window
                calls.add_metric([name, "all"], float(window.calls))
                calls.add_metric([name, "failed"], float(window.failures))
                calls.add_metric([name, "slow"], float(window.slow))
                rate.add_metric([name], window.failure_rate or 0.0)
                waiting.add_metric([name], float(status.waiting))
            yield from (state, calls, rate, waiting)

        def describe(self) -> Iterator[Any]:
            return iter(())

    return BreakerCollector()
