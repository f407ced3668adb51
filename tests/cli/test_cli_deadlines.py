"""``daytwo instance start --deadline-in`` and the deadline in ``instance show`` and
``explain`` (issue 13, item 5)."""

from __future__ import annotations

import json
import time

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)

import daytwo

APP = "cli_app:app"


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url)


def test_start_with_a_deadline_shows_it(invoke: Invoke, db_url: str) -> None:
    before = time.time()
    started = invoke("instance", "start", "wait-signal", "--app", APP, "--id", "w1",
                     "--deadline-in", "2h")  # fmt: skip
    assert started.exit_code == 0, started.stderr
    shown = invoke("instance", "show", "w1", "--json")
    assert shown.exit_code == 0, shown.stderr
    deadline = daytwo.Client(db_url).get("w1").deadline_at
    assert deadline is not None and before + 7200 <= deadline.timestamp() <= time.time() + 7200
    assert json.loads(shown.stdout)["deadline_at"] is not None
    table = invoke("instance", "show", "w1")
    assert "deadline" in table.stdout
    explained = invoke("explain", "w1")
    assert "deadline in 2 h" in explained.stdout


def test_a_malformed_deadline_is_refused(invoke: Invoke) -> None:
    result = invoke("instance", "start", "wait-signal", "--app", APP, "--deadline-in", "soon")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --deadline-in 'soon' is not a duration; give one like 30m, 36h or 3d"
    )
    assert result.stdout == ""  # no id: nothing was started
