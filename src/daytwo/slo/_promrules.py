"""Prometheus recording and alerting rules equivalent to the engine's own evaluation.

Built on the ``/metrics`` series of ``_metrics.py``; one rule group per objective, whose
rules Prometheus evaluates in order:

* ``daytwo_slo:error_ratio:rate<w>`` for every window of the objective's alert rules —
  event indicators: ``rate`` of ``daytwo_slo_bad_events_total`` / ``rate`` of
  ``daytwo_slo_events_total`` (the ratio of two rates is the ratio of the increases, as the
  engine's buckets give it); the stuck ratio, a gauge: ``sum_over_time`` of stuck /
  ``sum_over_time`` of active, the same sum of samples the engine keeps per evaluation;
* ``daytwo_slo:burn_rate:rate<w>``: that ratio / the objective's error budget;
* ``daytwo_slo:events:increase<w>``: valid events of each long window (the minimum-events
  gate) and of the no-data window;
* alert ``DaytwoSLOErrorBudgetBurn`` per severity: any rule whose long and short windows
  both burn above its threshold (``BurnRateRule.threshold``: budget fraction x SLO window /
  long window, so 14.4/6 and 3/1 at 30 days) with at least ``min_events`` valid events in
  the long window — exactly when the engine fires; ``DaytwoSLONoData`` when set.

Every process serving ``/metrics`` reports the same cluster-wide values, so the rules take
``max by (slo)`` over scrape targets rather than a sum. Each recording rule carries its
``slo`` as a static label too, which keeps ``promtool check rules``'s duplicate-rule lint
quiet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import yaml

from daytwo.slo._definitions import Objective, StuckRatio, format_duration

__all__ = ["ALERT_BURN", "ALERT_NO_DATA", "prometheus_rules", "prometheus_rules_yaml"]

#: Alert names (the ``severity`` label tells page from ticket, as in the engine's keys).
ALERT_BURN = "DaytwoSLOErrorBudgetBurn"
ALERT_NO_DATA = "DaytwoSLONoData"


def _window(length: timedelta) -> str:
    seconds = length.total_seconds()
    if seconds != int(seconds):
        raise ValueError(f"Prometheus ranges are whole seconds; {seconds}s is not")
    return format_duration(length)


def _number(value: float) -> str:
    return f"{value:.12g}"


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


def _objective_rules(objective: Objective) -> list[dict[str, Any]]:
    select = selector(objective.name)
    budget = _number(objective.budget)
    policy = objective.alerting
    own = {"slo": objective.name}  # static, so that promtool sees no duplicate rules
    bad, valid = slo_series(objective)
    if isinstance(objective.sli, StuckRatio):
        # A gauge sampled at each scrape: sum the samples, as the engine sums its own.
        over, count_over = "sum_over_time", "sum_over_time"
    else:
        over, count_over = "rate", "increase"
    ratio = f"max by (slo) ({over}({{bad}}[{{w}}]))\n/ max by (slo) ({over}({{valid}}[{{w}}]))"
    count = f"max by (slo) ({count_over}({{valid}}[{{w}}]))"
    rules: list[dict[str, Any]] = []
    lengths = sorted({w for r in policy.rules for w in (r.long_window, r.short_window)})
    for length in lengths:
        w = _window(length)
        rules.append(
            {
                "record": f"daytwo_slo:error_ratio:rate{w}",
                "expr": ratio.format(bad=bad + select, valid=valid + select, w=w),
                "labels": own,
            }
        )
        rules.append(
            {
                "record": f"daytwo_slo:burn_rate:rate{w}",
                "expr": f"daytwo_slo:error_ratio:rate{w}{select} / {budget}",
                "labels": own,
            }
        )
    counted = {r.long_window for r in policy.rules if policy.min_events}
    if policy.no_data is not None:
        counted.add(policy.no_data)
    for length in sorted(counted):
        w = _window(length)
        rules.append(
            {
                "record": f"daytwo_slo:events:increase{w}",
                "expr": count.format(valid=valid + select, w=w),
                "labels": own,
            }
        )
    labels = {
        "workflow": objective.workflow,
        "sli": objective.sli.kind,
        **({"version": objective.version} if objective.version else {}),
        **policy.labels,
    }
    annotations = {"runbook_url": policy.runbook} if policy.runbook else {}
    kind = "stuck" if isinstance(objective.sli, StuckRatio) else objective.sli.kind
    for severity in ("page", "ticket"):
        chosen = [r for r in policy.rules if r.severity == severity]
        if not chosen:
            continue
        terms = []
        for rule in chosen:
            long, short = _window(rule.long_window), _window(rule.short_window)
            threshold = _number(rule.threshold(objective.window))
            term = (
                f"daytwo_slo:burn_rate:rate{long}{select} > {threshold}\n"
                f"and daytwo_slo:burn_rate:rate{short}{select} > {threshold}"
            )
            if policy.min_events:
                term += f"\nand daytwo_slo:events:increase{long}{select} >= {policy.min_events}"
            terms.append(f"(\n{term}\n)")
        rules.append(
            {
                "alert": ALERT_BURN,
                "expr": "\nor\n".join(terms),
                "labels": {**labels, "severity": severity},
                "annotations": {
                    "summary": (
                        f"{objective.name}: {objective.workflow} burns its {kind} error budget "
                        f"too fast ({severity}; windows "
                        + ", ".join(
                            f"{format_duration(r.long_window)}&{format_duration(r.short_window)}"
                            f" > {_number(r.threshold(objective.window))}x"
                            for r in chosen
                        )
                        + ")"
                    ),
                    **annotations,
                },
            }
        )
    if policy.no_data is not None:
        w = _window(policy.no_data)
        rules.append(
            {
                "alert": ALERT_NO_DATA,
                "expr": f"daytwo_slo:events:increase{w}{select} == 0",
                "labels": {**labels, "severity": "ticket", "alert": "no-data"},
                "annotations": {
                    "summary": (
                        f"{objective.name}: no {objective.workflow} events for {w} although "
                        "they are expected"
                    ),
                    **annotations,
                },
            }
        )
    return rules


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL expressions) as literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


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
