"""SLO definitions: Python objects, YAML files with located errors, burn thresholds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daytwo
from daytwo import slo

YAML = """\
objectives:
  - name: order-success
    workflow: order
    objective: 0.995
    sli: {kind: success}
    window: month
    alerting:
      runbook: https://runbooks.example/order
      min_events: 5
  - name: order-fast
    workflow: order
    objective: 0.95
    sli:
      kind: cycle_time
      within: 24h
  - name: order-stuck
    workflow: order
    objective: 0.98
    sli:
      kind: stuck_ratio
      thresholds: {manager-approval: 4h}
  - name: payments-retries
    workflow: order
    sli: {kind: retry_rate, dependency: payments-api, max_per_instance: 0.5}
"""


def test_yaml_file_loads_all_kinds(tmp_path: Path) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text(YAML)
    objectives = slo.load_objectives(path)
    assert [o.name for o in objectives] == [
        "order-success", "order-fast", "order-stuck", "payments-retries"
    ]  # fmt: skip
    success, fast, stuck, retries = objectives
    assert success.window == slo.Window.calendar("month")
    assert success.alerting.runbook == "https://runbooks.example/order"
    assert fast.window == slo.Window.rolling("28d")
    assert isinstance(fast.sli, slo.CycleTime) and fast.sli.within == timedelta(hours=24)
    assert isinstance(stuck.sli, slo.StuckRatio)
    assert stuck.sli.thresholds == {"manager-approval": timedelta(hours=4)}
    assert retries.budget == 0.5 and not retries.is_ratio
    assert success.budget == pytest.approx(0.005)


@pytest.mark.parametrize(
    ("change", "line", "field", "words"),
    [
        (("objective: 0.995", "objective: 1.5"), 4, "objectives[0].objective", "less than 1"),
        (("within: 24h", "within: 25h"), 15, "objectives[1].sli.within", "use 1d or 1d12h"),
        (("within: 24h", "within: soon"), 15, "objectives[1].sli.within", "not a duration"),
        (("kind: success", "kind: sucess"), 5, "objectives[0].sli", "sucess"),
        (("min_events: 5", "min_events: many"), 9, "objectives[0].alerting.min_events", "integer"),
        (("    workflow: order\n    objective: 0.95", "    objective: 0.95"), 10,
         "objectives[1].workflow", "required"),
        (("name: order-fast", "name: order-success"), 10, "objectives[1].name", "duplicate"),
        (("window: month", "window: fortnight"), 6, "objectives[0].window", "not a duration"),
    ],
)  # fmt: skip
def test_yaml_errors_name_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], line: int, field: str, words: str
) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text(YAML.replace(*change, 1))
    with pytest.raises(slo.DefinitionError) as caught:
        slo.load_objectives(path)
    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), line, field)
    assert words in str(error)
    assert str(error).startswith(f"{path}:{line}: {field}: ")
    assert isinstance(error, daytwo.InvalidInput)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(slo.DefinitionError) as caught:
        slo.parse_objectives("objectives:\n  - name: [unclosed\n", "x.yaml")
    assert caught.value.line == 3 and "not valid YAML" in str(caught.value)


def test_workbook_thresholds_and_scaling() -> None:
    thirty = slo.Window.rolling("30d")
    assert [round(r.threshold(thirty), 6) for r in slo.WORKBOOK_RULES] == [14.4, 6, 3, 1]
    # 28 days: 2% of 672 h spent in 1 h is a burn of 13.44.
    assert slo.WORKBOOK_RULES[0].threshold(slo.Window.rolling("28d")) == pytest.approx(13.44)
    assert slo.WORKBOOK_RULES[0].threshold(slo.Window.calendar("month")) == pytest.approx(14.4)
    assert slo.WORKBOOK_RULES[0].name == "page-1h-5m"


def test_python_objectives_register_on_the_app() -> None:
    app = daytwo.App("sqlite:///:memory:")
    fast = slo.Objective(name="fast", workflow="w", objective=0.9, sli=slo.CycleTime(within="1h"))
    slo.register(app, fast)
    slo.register(app, fast)
    assert slo.objectives_for(app) == [fast]
    with pytest.raises(daytwo.InvalidInput, match="registered twice"):
        slo.register(app, fast.model_copy(update={"objective": 0.99}))


def test_rate_and_ratio_objectives_are_checked() -> None:
    with pytest.raises(ValueError, match="needs objective"):
        slo.Objective(name="s", workflow="w", sli=slo.Success())
    with pytest.raises(ValueError, match="max_per_instance"):
        slo.Objective(name="r", workflow="w", objective=0.9, sli=slo.RetryRate(max_per_instance=1))
    with pytest.raises(ValueError, match="not both"):
        slo.RetryRate(max_per_instance=1, step="a", dependency="b")


def test_objective_names_say_which_letters_they_take() -> None:
    for bad in ("bestellung-über", "a b", "x\n"):
        with pytest.raises(ValueError, match=r"ASCII letters \(a-z, A-Z\)"):
            slo.Objective(name=bad, workflow="w", objective=0.9, sli=slo.Success())
    assert slo.Objective(name="order.fast-1", workflow="w", objective=0.9, sli=slo.Success())


def test_digest_changes_with_the_definition() -> None:
    one = slo.Objective(name="s", workflow="w", objective=0.99, sli=slo.Success())
    assert one.digest() == slo.Objective.model_validate(one.spec()).digest()
    assert one.digest() != one.model_copy(update={"objective": 0.999}).digest()


@given(st.integers(min_value=1, max_value=10**8))
def test_durations_round_trip(seconds: int) -> None:
    text = slo.format_duration(timedelta(seconds=seconds))
    assert slo.parse_duration(text) == timedelta(seconds=seconds)
