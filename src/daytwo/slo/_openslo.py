"""OpenSLO (``openslo/v1``) export and import of objectives.

Export writes, per objective, an SLI, an SLO and an AlertPolicy, and a Service per workflow:

* ``Service`` — ``metadata.name`` is the workflow;
* ``SLI`` — named like the objective; ``ratioMetric`` with ``bad`` and ``total`` Prometheus
  queries on the ``/metrics`` series (``counter: true``; ``false`` for the stuck ratio, a
  gauge), and the daytwo indicator itself, which no OpenSLO field can carry, as JSON in the
  annotation ``daytwo/indicator``;
* ``SLO`` — ``service`` (the workflow), ``indicatorRef``, ``budgetingMethod: Occurrences``,
  ``timeWindow`` (rolling ``28d``, or calendar ``1M``/``1w`` starting at a UTC period start),
  one objective (``target``: the good share; rate indicators have ``op: lte`` and
  ``value``: the limit per instance instead), ``alertPolicies`` by reference; the workflow
  version, when pinned, in the annotation ``daytwo/version``;
* ``AlertPolicy`` — one ``burnrate`` condition per burn-rate rule: ``lookbackWindow`` is the
  long window, ``alertAfter`` the short one (both must burn above ``threshold``), severity
  ``page`` or ``ticket``; ``alertWhenNoData`` with the annotation ``daytwo/no-data`` (its
  window); ``daytwo/min-events``, ``daytwo/runbook`` and ``daytwo/labels`` (JSON).

Import reads such documents back (a list, or ``---``-separated documents) and validates
them with the same Pydantic models as the YAML definitions; an error names the file, line
and field. What daytwo cannot evaluate (time slices, other data sources without the
``daytwo/indicator`` annotation, several objectives per SLO, non-UTC calendars, inline
alert conditions of other kinds, ...) is refused with a message saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from daytwo.slo._definitions import (
    BurnRateRule,
    Objective,
    StuckRatio,
    format_duration,
)
from daytwo.slo._promrules import dump_yaml, selector, slo_series
from daytwo.slo._yaml import DefinitionError, build_located, dotted, invalid_yaml, read_definitions

__all__ = ["API_VERSION", "export_openslo", "load_openslo", "openslo_yaml", "parse_openslo"]

API_VERSION = "openslo/v1"
_PREFIX = "daytwo/"
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60))
_SHORTHAND = re.compile(r"^(\d+)([mhdwMQY])$")
_CALENDAR_START = {"month": "2024-01-01 00:00:00", "week": "2024-01-01 00:00:00"}  # a Monday


def _shorthand(length: timedelta) -> str:
    """OpenSLO's duration shorthand (one number, one unit): ``90m``, ``28d``."""
    seconds = length.total_seconds()
    for unit, size in _UNITS[1:]:  # days rather than weeks: "28d"
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    raise ValueError(
        f"{format_duration(length)} cannot be written in OpenSLO (whole minutes at least)"
    )


# -- export ------------------------------------------------------------------------------


def _metadata(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if annotations:
        out["annotations"] = annotations
    return out


def _query(metric: str, objective: Objective) -> dict[str, Any]:
    return {
        "metricSource": {
            "type": "Prometheus",
            "spec": {"query": metric + selector(objective.name)},
        }
    }


def export_openslo(objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """The ``openslo/v1`` documents of ``objectives`` as plain data."""
    docs: list[dict[str, Any]] = []
    for workflow in dict.fromkeys(o.workflow for o in objectives):
        docs.append(
            {
                "apiVersion": API_VERSION,
                "kind": "Service",
                "metadata": _metadata(workflow),
                "spec": {"description": f"daytwo workflow {workflow}"},
            }
        )
    for objective in objectives:
        docs += _export_one(objective)
    return docs


def _export_one(objective: Objective) -> list[dict[str, Any]]:
    gauge = isinstance(objective.sli, StuckRatio)
    bad, total = slo_series(objective)
    indicator = json.dumps(
        objective.sli.model_dump(mode="json"), sort_keys=True, separators=(",", ":")
    )
    sli = {
        "apiVersion": API_VERSION,
        "kind": "SLI",
        "metadata": _metadata(objective.name, {f"{_PREFIX}indicator": indicator}),
        "spec": {
            "description": f"daytwo {objective.sli.kind} indicator of {objective.workflow}",
            "ratioMetric": {
                "counter": not gauge,
                "bad": _query(bad, objective),
                "total": _query(total, objective),
            },
        },
    }
    window = objective.window
    if window.kind == "rolling":
        assert window.length is not None
        time_window: dict[str, Any] = {"duration": _shorthand(window.length), "isRolling": True}
    else:
        assert window.period is not None
        time_window = {
            "duration": "1M" if window.period == "month" else "1w",
            "isRolling": False,
            "calendar": {"startTime": _CALENDAR_START[window.period], "timeZone": "UTC"},
        }
    if objective.objective is not None:
        target: dict[str, Any] = {"displayName": objective.name, "target": objective.objective}
    else:
        target = {"displayName": objective.name, "op": "lte", "value": objective.budget}
    slo_spec: dict[str, Any] = {}
    if objective.description:
        slo_spec["description"] = objective.description
    slo_spec |= {
        "service": objective.workflow,
        "indicatorRef": objective.name,
        "budgetingMethod": "Occurrences",
        "timeWindow": [time_window],
        "objectives": [target],
        "alertPolicies": [{"alertPolicyRef": objective.name}],
    }
    slo_annotations = {f"{_PREFIX}version": objective.version} if objective.version else None
    slo = {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": _metadata(objective.name, slo_annotations),
        "spec": slo_spec,
    }
    policy = objective.alerting
    annotations = {f"{_PREFIX}min-events": str(policy.min_events)}
    if policy.no_data is not None:
        annotations[f"{_PREFIX}no-data"] = format_duration(policy.no_data)
    if policy.runbook is not None:
        annotations[f"{_PREFIX}runbook"] = policy.runbook
    if policy.labels:
        annotations[f"{_PREFIX}labels"] = json.dumps(policy.labels, sort_keys=True)
    conditions = []
    for rule in policy.rules:
        conditions.append(
            {
                "kind": "AlertCondition",
                "metadata": _metadata(
                    f"{objective.name}-{rule.name}",
                    {f"{_PREFIX}budget-fraction": repr(rule.budget_fraction)},
                ),
                "spec": {
                    "description": (
                        f"{rule.severity} when {_shorthand(rule.long_window)} and "
                        f"{_shorthand(rule.short_window)} both burn above the threshold"
                    ),
                    "severity": rule.severity,
                    "condition": {
                        "kind": "burnrate",
                        "op": "gt",
                        "threshold": rule.threshold(objective.window),
                        "lookbackWindow": _shorthand(rule.long_window),
                        "alertAfter": _shorthand(rule.short_window),
                    },
                },
            }
        )
    alert_policy = {
        "apiVersion": API_VERSION,
        "kind": "AlertPolicy",
        "metadata": _metadata(objective.name, annotations),
        "spec": {
            "description": f"burn-rate alerts of {objective.name}",
            "alertWhenBreaching": True,
            "alertWhenResolved": True,
            "alertWhenNoData": policy.no_data is not None,
            "conditions": conditions,
            "notificationTargets": [],
        },
    }
    return [sli, slo, alert_policy]


def openslo_yaml(objectives: Sequence[Objective]) -> str:
    """:func:`export_openslo` as a YAML stream of ``---``-separated documents."""
    return "".join("---\n" + dump_yaml(doc) for doc in export_openslo(objectives))


# -- import ------------------------------------------------------------------------------

_Path = tuple[str | int, ...]


class _Doc:
    """One document, with the line of each of its paths, for located errors."""

    def __init__(self, file: str, index: int, data: Any, lines: dict[_Path, int]) -> None:
        self.file, self.index, self.data, self.lines = file, index, data, lines
        if not isinstance(data, dict):
            self.fail((), "expected a mapping (an OpenSLO document)")
        self.kind = data.get("kind")
        meta = data.get("metadata")
        self.name = meta.get("name") if isinstance(meta, dict) else None

    def line(self, path: _Path) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def fail(self, path: _Path, message: str) -> NoReturn:
        where = f"document {self.index + 1}" + (f" ({self.kind} {self.name})" if self.kind else "")
        field = dotted(path)
        raise DefinitionError(
            self.file, self.line(path), f"{where}: {field}" if field else where, message
        )

    def get(
        self, path: _Path, *, required: bool = True, kind: type | tuple[type, ...] = object
    ) -> Any:
        value: Any = self.data
        for part in path:
            if isinstance(part, int):
                value = value[part] if isinstance(value, list) and part < len(value) else None
            else:
                value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                break
        if value is None:
            if required:
                self.fail(path, "missing")
            return None
        numeric = kind is not bool and isinstance(value, bool)  # YAML true is no number
        if not isinstance(value, kind) or numeric:
            kinds = kind if isinstance(kind, tuple) else (kind,)
            names = " or ".join(
                {"str": "text", "dict": "a mapping", "list": "a list"}.get(k.__name__, k.__name__)
                for k in kinds
            )
            self.fail(path, f"expected {names}, got {value!r}")
        return value

    def allow(self, path: _Path, keys: set[str], what: str) -> None:
        value = self.get(path, required=False, kind=dict) if path else self.data
        for key in value or {}:
            if key not in keys:
                self.fail(
                    (*path, key),
                    f"{what} does not support {key!r} (daytwo reads: {', '.join(sorted(keys))})",
                )


def load_openslo(path: str | Path) -> list[Objective]:
    """Read and validate the objectives of an OpenSLO YAML file."""
    return parse_openslo(*read_definitions(path, "OpenSLO"))


def _documents(text: str, file: str) -> list[_Doc]:
    docs: list[_Doc] = []
    try:
        loader = yaml.SafeLoader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    break
                lines: dict[_Path, int] = {}
                data = build_located(loader, node, (), lines)
                if isinstance(data, list):  # a list of documents in one YAML document
                    for i, item in enumerate(data):
                        sub = {p[1:]: n for p, n in lines.items() if p and p[0] == i}
                        docs.append(_Doc(file, len(docs), item, sub))
                elif data is not None:
                    docs.append(_Doc(file, len(docs), data, lines))
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise invalid_yaml(file, exc) from None
    return docs


def parse_openslo(text: str, file: str = "<string>") -> list[Objective]:
    """Objectives from OpenSLO YAML ``text`` (``file`` names it in errors)."""
    docs = _documents(text, file)
    by_kind: dict[str, dict[str, _Doc]] = {"Service": {}, "SLI": {}, "SLO": {}, "AlertPolicy": {}}
    for doc in docs:
        version = doc.get(("apiVersion",), kind=str)
        if version != API_VERSION:
            doc.fail(("apiVersion",), f"only {API_VERSION} is supported, not {version!r}")
        kind = doc.get(("kind",), kind=str)
        if kind not in by_kind:
            doc.fail(
                ("kind",), f"daytwo does not import {kind} documents (only {', '.join(by_kind)})"
            )
        name = doc.get(("metadata", "name"), kind=str)
        if name in by_kind[kind]:
            doc.fail(("metadata", "name"), f"a second {kind} named {name!r}")
        by_kind[kind][name] = doc
    if not by_kind["SLO"]:
        raise DefinitionError(file, 1, "", "no SLO documents found")
    return [_import_slo(doc, by_kind) for doc in by_kind["SLO"].values()]


def _duration(doc: _Doc, path: _Path) -> timedelta:
    text = doc.get(path, kind=str)
    match = _SHORTHAND.match(text)
    if match is None or match.group(2) in "MQY":
        doc.fail(path, f"expected a duration such as '5m', '1h', '28d' or '1w', got {text!r}")
    assert match is not None
    size = dict(_UNITS)[match.group(2)]
    return timedelta(seconds=int(match.group(1)) * size)


def _import_slo(slo: _Doc, by_kind: dict[str, dict[str, _Doc]]) -> Objective:
    slo.allow((), {"apiVersion", "kind", "metadata", "spec"}, "an SLO")
    slo.allow(("metadata",), {"name", "displayName", "labels", "annotations"}, "metadata")
    slo.allow(
        ("spec",),
        {
            "description",
            "service",
            "indicator",
            "indicatorRef",
            "budgetingMethod",
            "timeWindow",
            "objectives",
            "alertPolicies",
        },
        "an SLO spec",
    )
    sources: dict[str, tuple[_Doc, _Path]] = {"name": (slo, ("metadata", "name"))}
    spec: dict[str, Any] = {"name": slo.name}
    spec["workflow"] = slo.get(("spec", "service"), kind=str)
    sources["workflow"] = (slo, ("spec", "service"))
    annotations = slo.get(("metadata", "annotations"), required=False, kind=dict) or {}
    if f"{_PREFIX}version" in annotations:
        spec["version"] = annotations[f"{_PREFIX}version"]
        sources["version"] = (slo, ("metadata", "annotations", f"{_PREFIX}version"))
    description = slo.get(("spec", "description"), required=False, kind=str)
    if description:
        spec["description"] = description
    method = slo.get(("spec", "budgetingMethod"), kind=str)
    if method != "Occurrences":
        slo.fail(
            ("spec", "budgetingMethod"),
            f"daytwo counts events: only Occurrences is supported, not {method!r}",
        )

    # indicator
    ref = slo.get(("spec", "indicatorRef"), required=False, kind=str)
    base: _Path
    if ref is not None:
        if ref not in by_kind["SLI"]:
            slo.fail(("spec", "indicatorRef"), f"no SLI named {ref!r} in the file")
        sli_doc, base = by_kind["SLI"][ref], ()
    elif slo.get(("spec", "indicator"), required=False, kind=dict) is not None:
        sli_doc, base = slo, ("spec", "indicator")
    else:
        slo.fail(("spec",), "needs indicatorRef or indicator")
    sli_annotations = sli_doc.get((*base, "metadata", "annotations"), required=False, kind=dict)
    raw = (sli_annotations or {}).get(f"{_PREFIX}indicator")
    if not isinstance(raw, str):
        sli_doc.fail(
            (*base, "metadata", "annotations"),
            "no daytwo/indicator annotation: daytwo evaluates its own indicators (cycle_time, "
            "success, stuck_ratio, retry_rate, compensation_rate), not queries of other data "
            "sources; export objectives with 'daytwo slo export openslo' to see the form",
        )
    indicator_path = (*base, "metadata", "annotations", f"{_PREFIX}indicator")
    try:
        spec["sli"] = json.loads(raw)
    except (TypeError, ValueError):
        sli_doc.fail(indicator_path, "daytwo/indicator must be a JSON object")
    sources["sli"] = (sli_doc, indicator_path)
    sli_spec = sli_doc.get((*base, "spec"), kind=dict)
    if "thresholdMetric" in sli_spec:
        sli_doc.fail(
            (*base, "spec", "thresholdMetric"),
            "threshold metrics are not supported; daytwo indicators are ratios of events",
        )

    # window
    windows = slo.get(("spec", "timeWindow"), kind=list)
    if len(windows) != 1:
        slo.fail(("spec", "timeWindow"), "exactly one time window is supported")
    slo.allow(("spec", "timeWindow", 0), {"duration", "isRolling", "calendar"}, "a time window")
    rolling = slo.get(("spec", "timeWindow", 0, "isRolling"), required=False, kind=bool)
    duration_path: _Path = ("spec", "timeWindow", 0, "duration")
    sources["window"] = (slo, ("spec", "timeWindow", 0))
    if rolling is False:
        text = slo.get(duration_path, kind=str)
        periods = {"1M": "month", "1w": "week"}
        if text not in periods:
            slo.fail(
                duration_path, f"calendar windows are '1M' (month) or '1w' (week), not {text!r}"
            )
        zone = slo.get(("spec", "timeWindow", 0, "calendar", "timeZone"), required=False, kind=str)
        if zone not in (None, "UTC", "Etc/UTC"):
            slo.fail(
                ("spec", "timeWindow", 0, "calendar", "timeZone"),
                f"calendar windows are in UTC; {zone!r} is not supported",
            )
        spec["window"] = periods[text]
    else:
        spec["window"] = _duration(slo, duration_path)

    # objective
    objectives = slo.get(("spec", "objectives"), kind=list)
    if len(objectives) != 1:
        slo.fail(("spec", "objectives"), "exactly one objective per SLO is supported")
    path: _Path = ("spec", "objectives", 0)
    slo.allow(path, {"displayName", "target", "op", "value"}, "an objective")
    target = slo.get((*path, "target"), required=False, kind=(int, float))
    value = slo.get((*path, "value"), required=False, kind=(int, float))
    if target is not None:
        spec["objective"] = target
        sources["objective"] = (slo, (*path, "target"))
    elif value is not None:
        op = slo.get((*path, "op"), required=False, kind=str)
        if op not in (None, "lte", "lt"):
            slo.fail((*path, "op"), f"a rate objective is an upper limit (op: lte), not {op!r}")
        if isinstance(spec["sli"], dict):
            spec["sli"]["max_per_instance"] = value
        sources["sli"] = (slo, (*path, "value"))
    else:
        slo.fail(path, "needs target (the good share) or value (a rate limit per instance)")

    # alerting
    policies = slo.get(("spec", "alertPolicies"), required=False, kind=list) or []
    if len(policies) > 1:
        slo.fail(("spec", "alertPolicies"), "at most one alert policy per SLO is supported")
    if policies:
        spec["alerting"], sources["alerting"] = _import_policy(slo, by_kind, spec["window"])

    try:
        return Objective.model_validate(spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error["loc"]
        doc, where = sources.get(str(loc[0]) if loc else "", (slo, ()))
        detail = ".".join(
            str(p)
            for p in loc[1:]
            if not str(p).startswith(
                ("cycle_time", "success", "stuck_ratio", "retry_rate", "compensation_rate")
            )
        )
        message = str(error["msg"]).removeprefix("Value error, ")
        doc.fail(
            where, f"{loc[0] if loc else 'objective'}{'.' + detail if detail else ''}: {message}"
        )
        raise AssertionError("unreachable") from None


def _import_policy(
    slo: _Doc, by_kind: dict[str, dict[str, _Doc]], window: Any
) -> tuple[dict[str, Any], tuple[_Doc, _Path]]:
    entry_path: _Path = ("spec", "alertPolicies", 0)
    entry = slo.get(entry_path)
    if isinstance(entry, str):
        ref: Any = entry
    elif isinstance(entry, dict) and "alertPolicyRef" in entry:
        ref = slo.get((*entry_path, "alertPolicyRef"), kind=str)
    else:
        ref = None
    base: _Path
    if ref is not None:
        if ref not in by_kind["AlertPolicy"]:
            slo.fail(entry_path, f"no AlertPolicy named {ref!r} in the file")
        doc, base = by_kind["AlertPolicy"][ref], ()
    else:
        doc, base = slo, entry_path
    doc.allow(
        (*base, "spec"),
        {
            "description",
            "alertWhenBreaching",
            "alertWhenResolved",
            "alertWhenNoData",
            "conditions",
            "notificationTargets",
        },
        "an AlertPolicy spec",
    )
    annotations = doc.get((*base, "metadata", "annotations"), required=False, kind=dict) or {}
    policy: dict[str, Any] = {}
    if f"{_PREFIX}min-events" in annotations:
        policy["min_events"] = annotations[f"{_PREFIX}min-events"]
    if doc.get((*base, "spec", "alertWhenNoData"), required=False, kind=bool):
        policy["no_data"] = annotations.get(f"{_PREFIX}no-data")
        if policy["no_data"] is None:
            doc.fail(
                (*base, "metadata", "annotations"),
                "alertWhenNoData needs the annotation daytwo/no-data: how long without "
                "events raises the alert (e.g. '2h')",
            )
    if f"{_PREFIX}runbook" in annotations:
        policy["runbook"] = annotations[f"{_PREFIX}runbook"]
    if f"{_PREFIX}labels" in annotations:
        try:
            policy["labels"] = json.loads(annotations[f"{_PREFIX}labels"])
        except ValueError:
            doc.fail(
                (*base, "metadata", "annotations", f"{_PREFIX}labels"), "must be a JSON object"
            )
    from daytwo.slo._definitions import Window

    nominal = Window.model_validate(window).nominal
    rules = []
    conditions = doc.get((*base, "spec", "conditions"), kind=list)
    for i, _ in enumerate(conditions):
        path: _Path = (*base, "spec", "conditions", i)
        if doc.get((*path, "conditionRef"), required=False) is not None:
            doc.fail(
                (*path, "conditionRef"),
                "conditions must be inline (kind: AlertCondition); references are not supported",
            )
        cond: _Path = (*path, "spec", "condition")
        kind = doc.get((*cond, "kind"), kind=str)
        if kind != "burnrate":
            doc.fail((*cond, "kind"), f"only burnrate conditions are supported, not {kind!r}")
        op = doc.get((*cond, "op"), required=False, kind=str)
        if op not in (None, "gt"):
            doc.fail(
                (*cond, "op"),
                f"a burn-rate condition fires above its threshold (op: gt), not {op!r}",
            )
        severity = doc.get((*path, "spec", "severity"), kind=str)
        long = _duration(doc, (*cond, "lookbackWindow"))
        short = _duration(doc, (*cond, "alertAfter"))
        threshold = doc.get((*cond, "threshold"), kind=(int, float))
        meta = doc.get((*path, "metadata", "annotations"), required=False, kind=dict) or {}
        exact = meta.get(f"{_PREFIX}budget-fraction")
        fraction = float(exact) if exact is not None else threshold * long / nominal
        try:
            rules.append(
                BurnRateRule(
                    severity=severity,
                    long_window=long,
                    short_window=short,
                    budget_fraction=fraction,
                )
            )
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            doc.fail(cond, message)
    policy["rules"] = rules
    return policy, (doc, (*base, "metadata", "annotations"))
