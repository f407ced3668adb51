"""OpenSLO: export to openslo/v1 documents, import back, located errors, round trips."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from daytwo import slo
from daytwo.cli._main import app as cli
from daytwo.slo._openslo import export_openslo, openslo_yaml, parse_openslo

ORDER_FAST = slo.Objective(
    name="order-fast", workflow="order", sli=slo.CycleTime(within="24h"), objective=0.95,
    window="28d", description="95% of orders ship within a day",
    alerting=slo.AlertPolicy(no_data="2h", runbook="https://runbooks/orders",
                             labels={"team": "shop"}, min_events=5),
)  # fmt: skip
EXAMPLES = [
    ORDER_FAST,
    slo.Objective(name="pay-ok", workflow="pay", version="v2", sli=slo.Success(),
                  objective=0.999, window="month"),
    slo.Objective(name="order-stuck", workflow="order", objective=0.98, window="week",
                  sli=slo.StuckRatio(thresholds={"manager-approval": "4h"}, factor=3)),
    slo.Objective(name="pay-retries", workflow="pay",
                  sli=slo.RetryRate(max_per_instance=0.25, dependency="bank")),
    slo.Objective(name="pay-refunds", workflow="pay",
                  sli=slo.CompensationRate(max_per_instance=0.01, step="charge")),
]  # fmt: skip


def test_export_writes_the_openslo_v1_kinds() -> None:
    docs = export_openslo(EXAMPLES)
    assert {d["apiVersion"] for d in docs} == {"openslo/v1"}
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Service") == 2  # one per workflow
    assert kinds.count("SLI") == kinds.count("SLO") == kinds.count("AlertPolicy") == 5
    slo_doc = next(d for d in docs if d["kind"] == "SLO" and d["metadata"]["name"] == "order-fast")
    spec = slo_doc["spec"]
    assert spec["service"] == "order"
    assert spec["indicatorRef"] == "order-fast"
    assert spec["budgetingMethod"] == "Occurrences"
    assert spec["timeWindow"] == [{"duration": "28d", "isRolling": True}]
    assert spec["objectives"] == [{"displayName": "order-fast", "target": 0.95}]
    assert spec["alertPolicies"] == [{"alertPolicyRef": "order-fast"}]
    sli = next(d for d in docs if d["kind"] == "SLI" and d["metadata"]["name"] == "order-fast")
    ratio = sli["spec"]["ratioMetric"]
    assert ratio["counter"] is True
    assert ratio["total"]["metricSource"] == {
        "type": "Prometheus", "spec": {"query": 'daytwo_slo_events_total{slo="order-fast"}'},
    }  # fmt: skip
    policy = next(
        d for d in docs if d["kind"] == "AlertPolicy" and d["metadata"]["name"] == "order-fast"
    )
    conditions = [c["spec"]["condition"] for c in policy["spec"]["conditions"]]
    # The workbook's rules, thresholds scaled to 28 days (14.4 x 28/30 = 13.44).
    assert conditions[0] == {
        "kind": "burnrate", "op": "gt", "threshold": pytest.approx(13.44),
        "lookbackWindow": "1h", "alertAfter": "5m",
    }  # fmt: skip
    assert [c["lookbackWindow"] for c in conditions] == ["1h", "6h", "1d", "3d"]
    assert policy["spec"]["alertWhenNoData"] is True
    calendar = next(d for d in docs if d["kind"] == "SLO" and d["metadata"]["name"] == "pay-ok")
    assert calendar["spec"]["timeWindow"][0]["duration"] == "1M"
    assert calendar["spec"]["timeWindow"][0]["isRolling"] is False


def test_round_trip_keeps_the_examples_equal() -> None:
    assert parse_openslo(openslo_yaml(EXAMPLES)) == EXAMPLES


def _names() -> st.SearchStrategy[str]:
    return st.from_regex(r"\A[a-z0-9][a-z0-9_.:-]{0,20}\Z")


def _minutes(low: int = 1, high: int = 60 * 24 * 90) -> st.SearchStrategy[timedelta]:
    return st.integers(low, high).map(lambda m: timedelta(minutes=m))


_PERIODS: list[Literal["month", "week"]] = ["month", "week"]
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@st.composite
def _rules(draw: st.DrawFn) -> tuple[slo.BurnRateRule, ...]:
    if draw(st.booleans()):
        return slo.WORKBOOK_RULES
    rules = []
    for _ in range(draw(st.integers(0, 3))):
        short = draw(_minutes(1, 600))
        long = short + draw(_minutes(1, 6000))
        rules.append(
            slo.BurnRateRule(
                severity=draw(st.sampled_from(["page", "ticket"])), long_window=long,
                short_window=short, budget_fraction=draw(st.floats(0.0001, 1.0)),
            )
        )  # fmt: skip
    return tuple(rules)


@st.composite
def objectives(draw: st.DrawFn) -> slo.Objective:
    kind = draw(st.sampled_from(["cycle_time", "success", "stuck", "retry", "comp"]))
    sli: Any
    if kind == "cycle_time":
        sli = slo.CycleTime(within=timedelta(seconds=draw(st.sampled_from(slo.CYCLE_TIME_BOUNDS))))
    elif kind == "success":
        sli = slo.Success()
    elif kind == "stuck":
        sli = slo.StuckRatio(
            thresholds=draw(st.dictionaries(_names(), _minutes(), max_size=3)),
            factor=draw(st.floats(0.1, 10)), floor=draw(_minutes(1, 600)),
            min_samples=draw(st.integers(1, 500)),
        )  # fmt: skip
    else:
        scope = draw(st.sampled_from(["workflow", "step", "dependency"]))
        cls = slo.RetryRate if kind == "retry" else slo.CompensationRate
        sli = cls(
            max_per_instance=draw(st.floats(0.001, 100)),
            step=draw(_names()) if scope == "step" else None,
            dependency=draw(_names()) if scope == "dependency" else None,
        )
    ratio = kind in ("cycle_time", "success", "stuck")
    window = draw(
        st.one_of(
            _minutes().map(slo.Window.rolling),
            st.sampled_from(_PERIODS).map(slo.Window.calendar),
        )
    )
    return slo.Objective(
        name=draw(_names()),
        workflow=draw(_names()),
        version=draw(st.none() | _names()),
        sli=sli,
        objective=draw(st.floats(0.001, 0.999)) if ratio else None,
        window=window,
        alerting=slo.AlertPolicy(
            rules=draw(_rules()),
            min_events=draw(st.integers(0, 1000)),
            no_data=draw(st.none() | _minutes(1, 6000)),
            runbook=draw(st.none() | _text),
            labels=draw(st.dictionaries(_names(), _text, max_size=3)),
        ),
        description=draw(_text),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(objectives(), min_size=1, max_size=3, unique_by=lambda o: o.name))
def test_round_trip_property(generated: list[slo.Objective]) -> None:
    assert parse_openslo(openslo_yaml(generated)) == generated


def _error(text: str) -> slo.DefinitionError:
    with pytest.raises(slo.DefinitionError) as caught:
        parse_openslo(text, "slos.yaml")
    return caught.value


def _exported(**changes: Any) -> str:
    """The export of ORDER_FAST with changes applied to its SLO document's spec."""
    docs = export_openslo([ORDER_FAST])
    spec = next(d for d in docs if d["kind"] == "SLO")["spec"]
    for key, new in changes.items():
        spec[key] = new
    return yaml.safe_dump_all(docs, sort_keys=False)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_errors_name_file_line_and_field() -> None:
    text = _exported(objectives=[{"target": 1.5}])
    error = _error(text)
    assert error.file == "slos.yaml"
    assert error.line == line_of(text, "target: 1.5")
    assert "spec.objectives[0].target" in str(error)
    assert "less than 1" in str(error)

    text = _exported(budgetingMethod="Timeslices")
    error = _error(text)
    assert error.line == line_of(text, "budgetingMethod")
    assert "only Occurrences is supported" in str(error)

    text = _exported(timeWindow=[{"duration": "1h30m", "isRolling": True}])
    assert "expected a duration" in str(_error(text))

    text = _exported(timeWindow=[{"duration": "1M", "isRolling": False,
                                  "calendar": {"startTime": "2024-01-01 00:00:00",
                                               "timeZone": "Europe/Paris"}}])  # fmt: skip
    assert "calendar windows are in UTC" in str(_error(text))

    error = _error(_exported(objectives=[{"target": 0.9}, {"target": 0.99}]))
    assert "exactly one objective" in str(error)


def test_unsupported_openslo_features_are_refused_clearly() -> None:
    foreign = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: web-availability
spec:
  service: web
  indicator:
    metadata:
      name: web-ok
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests{code="2xx"})
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests)
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.995
"""
    error = _error(foreign)
    assert "no daytwo/indicator annotation" in str(error)
    assert error.line == line_of(foreign, "    metadata:")  # the indicator's metadata

    assert "only openslo/v1 is supported" in str(
        _error(foreign.replace("openslo/v1", "openslo/v1alpha"))
    )
    datasource = "apiVersion: openslo/v1\nkind: DataSource\nmetadata:\n  name: prom\nspec: {}\n"
    assert "does not import DataSource" in str(_error(datasource))

    docs = export_openslo([ORDER_FAST])
    policy = next(d for d in docs if d["kind"] == "AlertPolicy")
    policy["spec"]["conditions"][0]["spec"]["condition"]["kind"] = "threshold"
    assert "only burnrate conditions" in str(_error(yaml.safe_dump_all(docs)))
    policy["spec"]["conditions"] = [{"conditionRef": "elsewhere"}]
    assert "must be inline" in str(_error(yaml.safe_dump_all(docs)))
    slo_doc = next(d for d in docs if d["kind"] == "SLO")
    slo_doc["spec"]["timeSliceTarget"] = 0.9
    assert "does not support 'timeSliceTarget'" in str(_error(yaml.safe_dump_all(docs)))


def test_cli_export_and_import_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "objectives.yaml"
    source.write_text(yaml.safe_dump({"objectives": [o.model_dump(mode="json") for o in EXAMPLES]}))
    runner = CliRunner()
    exported = runner.invoke(cli, ["slo", "export", "openslo", "--objectives", str(source)])
    assert exported.exit_code == 0, exported.stderr
    assert exported.stdout.startswith("---\napiVersion: openslo/v1\n")
    openslo_file = tmp_path / "slos.yaml"
    openslo_file.write_text(exported.stdout)
    imported = runner.invoke(cli, ["slo", "import", "openslo", str(openslo_file)])
    assert imported.exit_code == 0, imported.stderr
    back = tmp_path / "back.yaml"
    back.write_text(imported.stdout)
    assert slo.load_objectives(back) == EXAMPLES

    openslo_file.write_text(exported.stdout.replace("target: 0.95", "target: 2", 1))
    failed = runner.invoke(cli, ["slo", "import", "openslo", str(openslo_file)])
    assert failed.exit_code != 0
    assert f"{openslo_file}:" in failed.stderr and "target" in failed.stderr
