"""Prometheus recording and alerting rules equivalent to the engine's own evaluation.

Built on the ``/metrics`` series of ``_metrics.py``; one rule group per objective, whose
rules Prometheus evaluates in order. Recording rules are named ``level:metric:operations``
(the level is ``slo``: one series per objective), for every window ``<w>`` of the
objective's alert rules:

* valid events: ``slo:daytwo_slo_events:increase<w>`` (event indicators: the increase of
  ``daytwo_slo_events_total``, plus for the rate indicators the instances active now,
  ``daytwo_slo_active_instances``, as the engine counts them) or
  ``slo:daytwo_slo_sample_events:sum_over_time<w>`` (the stuck ratio, a gauge: the sum of
  its samples, as the engine sums its own per evaluation);
* the error ratio, bad over valid: ``slo:daytwo_slo_bad_events_per_events:ratio_increase<w>``
  (``..._sample_bad_events_per_sample_events:ratio_sum_over_time<w>`` for the stuck ratio);
* the burn rate, that ratio over the objective's error budget:
  ``slo:daytwo_slo_burn_rate:ratio_increase<w>`` (``...:ratio_sum_over_time<w>``).

Alerts: ``DaytwoSLOErrorBudgetBurn`` per severity, when any rule's long and short windows
both burn above its threshold (``BurnRateRule.threshold``) with at least ``min_events``
valid events in the long window — exactly when the engine fires; ``DaytwoSLONoData`` when
the objective's last event (``daytwo_slo_last_event_timestamp_seconds``) is older than the
policy's ``no_data``; ``DaytwoSLOMetricsAbsent`` when no scraped target exports the
objective any more (then nothing else of it can fire). Annotations carry the current value.

Every process serving ``/metrics`` reports the same cluster-wide values, so every series is
aggregated with ``max without (instance)`` before use: scraping one worker or all of them
gives the same numbers (a ``sum`` would count them once per process). Each recording rule
carries its ``slo`` as a static label too, which keeps ``promtool check rules``'s
duplicate-rule lint quiet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

import yaml

from daytwo.slo._definitions import (
    CompensationRate,
    Objective,
    RetryRate,
    StuckRatio,
    format_duration,
)
from daytwo.slo._vocabulary import Severity

__all__ = [
    "ABSENT_FOR",
    "ALERT_ABSENT",
    "ALERT_BURN",
    "ALERT_NO_DATA",
    "prometheus_rules",
    "prometheus_rules_yaml",
]

#: Alert names (the ``severity`` label tells page from ticket, as in the engine's keys).
ALERT_BURN = "DaytwoSLOErrorBudgetBurn"
ALERT_NO_DATA = "DaytwoSLONoData"
ALERT_ABSENT = "DaytwoSLOMetricsAbsent"
#: How long an objective's metrics must be missing before the absent alert fires: one
#: failed scrape or a restarting worker is not an outage of the monitoring.
ABSENT_FOR = "5m"
LAST_EVENT = "daytwo_slo_last_event_timestamp_seconds"
ACTIVE = "daytwo_slo_active_instances"


def _window(length: timedelta) -> str:
    seconds = length.total_seconds()
    if seconds != int(seconds):
        raise ValueError(f"Prometheus ranges are whole seconds; {seconds}s is not")
    return format_duration(length)


def _number(value: float) -> str:
    return f"{value:.12g}"


def across_targets(expression: str) -> str:
    """``expression`` once per objective however many targets report it: they all report
    the same cluster-wide values, so the largest is the value (and the freshest counter)."""
    return f"max without (instance) ({expression})"


def selector(name: str) -> str:
    """The label selector of an objective's series (names need no escaping: they are
    letters, digits, ``_``, ``.``, ``:`` and ``-``)."""
    return f'{{slo="{name}"}}'


def slo_series(objective: Objective) -> tuple[str, str]:
    """The (bad, valid) series /metrics reports for ``objective``: samples of a gauge for a
    stuck ratio, counters for the event indicators."""
    if isinstance(objective.sli, StuckRatio):
        return "daytwo_slo_sample_bad_events", "daytwo_slo_sample_events"
    return "daytwo_slo_bad_events_total", "daytwo_slo_events_total"


class _Names:
    """The recording-rule names of one objective's windows."""

    def __init__(self, objective: Objective) -> None:
        gauge = isinstance(objective.sli, StuckRatio)
        self.operation = "sum_over_time" if gauge else "increase"
        self.metric = "daytwo_slo_sample_events" if gauge else "daytwo_slo_events"
        self.ratio = (
            "daytwo_slo_sample_bad_events_per_sample_events"
            if gauge
            else "daytwo_slo_bad_events_per_events"
        )

    def valid(self, w: str) -> str:
        return f"slo:{self.metric}:{self.operation}{w}"

    def error_ratio(self, w: str) -> str:
        return f"slo:{self.ratio}:ratio_{self.operation}{w}"

    def burn_rate(self, w: str) -> str:
        return f"slo:daytwo_slo_burn_rate:ratio_{self.operation}{w}"


def prometheus_rules(objectives: Sequence[Objective]) -> dict[str, Any]:
    """The rule file (``groups: [...]``) for ``objectives``, as plain data."""
    names = [o.name for o in objectives]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"objective names must be unique; repeated: {', '.join(repeated)}")
    return {
        "groups": [
            {"name": f"daytwo-slo-{o.name}", "rules": _objective_rules(o)} for o in objectives
        ]
    }


def _recording_rules(objective: Objective, names: _Names) -> list[dict[str, Any]]:
    select = selector(objective.name)
    bad, valid = slo_series(objective)
    rules: list[dict[str, Any]] = []
    policy = objective.alerting
    lengths = sorted({w for r in policy.rules for w in (r.long_window, r.short_window)})
    for length in lengths:
        w = _window(length)
        events = across_targets(f"{names.operation}({valid}{select}[{w}])")
        if isinstance(objective.sli, RetryRate | CompensationRate):
            # Alive now, so alive in every window ending now: the engine counts them too.
            events += f"\n+ {across_targets(ACTIVE + select)}"
        ratio = (
            across_targets(f"{names.operation}({bad}{select}[{w}])")
            + f"\n/ {names.valid(w)}{select}"
        )
        for record, expression in (
            (names.valid(w), events),
            (names.error_ratio(w), ratio),
            (names.burn_rate(w), f"{names.error_ratio(w)}{select} / {_number(objective.budget)}"),
        ):
            rules.append({"record": record, "expr": expression, "labels": {"slo": objective.name}})
    return rules


def _objective_rules(objective: Objective) -> list[dict[str, Any]]:
    select = selector(objective.name)
    policy = objective.alerting
    names = _Names(objective)
    rules = _recording_rules(objective, names)
    labels = {
        "workflow": objective.workflow,
        "sli": objective.sli.kind,
        **({"version": objective.version} if objective.version else {}),
        **policy.labels,
    }
    runbook = {"runbook_url": policy.runbook} if policy.runbook else {}
    kind = "stuck" if isinstance(objective.sli, StuckRatio) else objective.sli.kind
    for severity in Severity:
        chosen = [r for r in policy.rules if r.severity == severity]
        if not chosen:
            continue
        terms = []
        for rule in chosen:
            long, short = _window(rule.long_window), _window(rule.short_window)
            threshold = _number(rule.threshold(objective.window))
            term = (
                f"{names.burn_rate(long)}{select} > {threshold}\n"
                f"and {names.burn_rate(short)}{select} > {threshold}"
            )
            if policy.min_events:
                term += f"\nand {names.valid(long)}{select} >= {policy.min_events}"
            terms.append(f"(\n{term}\n)")
        windows = ", ".join(
            f"{format_duration(r.long_window)}&{format_duration(r.short_window)}"
            f" > {_number(r.threshold(objective.window))}x"
            for r in chosen
        )
        gate = f", at least {policy.min_events} events" if policy.min_events else ""
        rules.append(
            {
                "alert": ALERT_BURN,
                "expr": "\nor\n".join(terms),
                "labels": {**labels, "severity": str(severity)},
                "annotations": {
                    # $value: the long-window burn rate of the first rule that fires.
                    "summary": (
                        f"{objective.name}: {objective.workflow} burns its {kind} error budget "
                        "at {{ $value | humanize }}x the sustainable rate"
                    ),
                    "description": f"{severity} when both windows burn above: {windows}{gate}",
                    **runbook,
                },
            }
        )
    if policy.no_data is not None:
        w = _window(policy.no_data)
        seconds = _number(policy.no_data.total_seconds())
        rules.append(
            {
                "alert": ALERT_NO_DATA,
                "expr": f"time() - {across_targets(LAST_EVENT + select)} > {seconds}",
                "labels": {**labels, "severity": str(Severity.TICKET), "alert": "no-data"},
                "annotations": {
                    "summary": (
                        f"{objective.name}: no {objective.workflow} events for "
                        "{{ $value | humanizeDuration }} (expected at least every " + w + ")"
                    ),
                    **runbook,
                },
            }
        )
    rules.append(
        {
            "alert": ALERT_ABSENT,
            "expr": f"absent({LAST_EVENT}{select})",
            "for": ABSENT_FOR,
            "labels": {**labels, "severity": str(Severity.PAGE), "alert": "absent"},
            "annotations": {
                "summary": (
                    f"{objective.name}: no scraped target exports this objective's metrics, so "
                    "none of its SLO alerts can fire"
                ),
                "description": (
                    "Every daytwo metrics server (daytwo metrics serve, workers with "
                    "--metrics-port) is down, not scraped, does not load this objective, or "
                    "fails to measure it (see its log)."
                ),
                **runbook,
            },
        }
    )
    return rules


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL expressions) as literal blocks, and never anchors
    (``&id001``/``*id001``) for values that happen to be shared: a reviewer of a generated
    file expects every rule spelled out."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)
# A vocabulary member (a StrEnum: severities, statuses) is written as its text.
_Dumper.add_multi_representer(StrEnum, lambda dumper, value: _text(dumper, str(value)))


def dump_yaml(data: Any) -> str:
    """YAML for people to read: keys in order, block style, expressions as literal blocks.

    Not ``allow_unicode``: PyYAML would write some line-break characters (U+0085) raw, and
    they would read back as spaces; escaped, every string survives the round trip.
    """
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100,
        allow_unicode=False,
    )  # fmt: skip


def prometheus_rules_yaml(objectives: Sequence[Objective]) -> str:
    """:func:`prometheus_rules` as YAML (``promtool check rules`` accepts it)."""
    return dump_yaml(prometheus_rules(objectives))
