"""``daytwo breaker list | show | set | open | close | reset``: the same actions as
``client.breakers``, audited, with exit codes for bad input (2) and wrong state (5)."""

from __future__ import annotations

import json

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)

import daytwo


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    daytwo.App(db_url).store  # noqa: B018 -- creates the database
    return cli_invoker(db_url)


def test_set_list_show_open_close_reset(invoke: Invoke) -> None:
    created = invoke(
        "breaker", "set", "payments-api", "--failure-rate", "40", "--window-seconds", "60",
        "--minimum-calls", "5", "--slow-call-duration", "2", "--slow-call-rate", "80",
        "--open-for", "90", "--half-open-calls", "2", "--force", "--reason", "new vendor",
        "--by", "ann",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert "open at 40% of last 60 s (min 5), open 90 s, 2 probe(s)" in created.stdout
    [listed] = json.loads(invoke("breaker", "list", "--json").stdout)
    assert (listed["name"], listed["state"], listed["calls"], listed["policy_source"]) == (
        "payments-api",
        "closed",
        0,
        "operator",
    )
    assert listed["policy"]["slow_call_duration"] == 2
    table = invoke("breaker", "list")
    assert table.exit_code == 0 and "payments-api" in table.stdout and "closed" in table.stdout
    opened = invoke("breaker", "open", "payments-api", "--reason", "outage", "--by", "ann")
    assert opened.exit_code == 0 and "forced open" in opened.stdout
    shown = json.loads(invoke("breaker", "show", "payments-api", "--json").stdout)
    assert shown["state"] == "forced_open" and shown["changed_by"] == "ann"
    assert invoke("breaker", "close", "payments-api").exit_code == 0
    assert invoke("breaker", "reset", "payments-api", "--json").exit_code == 0
    # Options not given keep their value; the window given replaces the other kind.
    changed = invoke("breaker", "set", "payments-api", "--window", "50", "--json")
    policy = json.loads(changed.stdout)["policy"]
    assert (policy["window"], policy["window_seconds"], policy["failure_rate"]) == (50, None, 40)
    actions = json.loads(invoke("audit", "list", "--action", "breaker", "--json").stdout)
    assert [a["action"] for a in actions] == [
        "breaker.set",
        "breaker.reset",
        "breaker.close",
        "breaker.open",
        "breaker.set",
    ]


def test_bad_input_and_wrong_states_are_one_line_errors_and_audited(invoke: Invoke) -> None:
    negative = invoke("breaker", "set", "payments-api", "--failure-rate", "-5", "--force")
    assert negative.exit_code == 2
    assert negative.stderr.strip() == (
        "error: invalid breaker policy: failure_rate must be a percentage above 0 and at most "
        "100 (got -5.0)"
    )
    both = invoke("breaker", "set", "x", "--window", "5", "--window-seconds", "5", "--force")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert json.loads(invoke("breaker", "list", "--json").stdout) == []
    unknown_dependency = invoke("breaker", "set", "payments-api", "--window", "5")
    assert unknown_dependency.exit_code == 2
    assert "no dependency named 'payments-api' is known" in unknown_dependency.stderr
    unknown = invoke("breaker", "open", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().startswith("error: no circuit breaker named 'nope'")
    assert invoke("breaker", "set", "payments-api", "--force").exit_code == 0
    assert invoke("breaker", "open", "payments-api").exit_code == 0
    again = invoke("breaker", "open", "payments-api")
    assert again.exit_code == 5 and "already forced open" in again.stderr
    nothing = invoke("breaker", "reset", "payments-api")
    assert nothing.exit_code == 0, "forced open: reset closes it"
    assert invoke("breaker", "reset", "payments-api").exit_code == 5
    refused = json.loads(invoke("audit", "list", "--outcome", "refused", "--json").stdout)
    assert [(r["action"], r["target"]) for r in refused] == [
        ("breaker.reset", "payments-api"),
        ("breaker.open", "payments-api"),
        ("breaker.open", "nope"),
        ("breaker.set", "payments-api"),
        ("breaker.set", "x"),
        ("breaker.set", "payments-api"),
    ]
