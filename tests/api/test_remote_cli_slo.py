"""``daytwo --server URL --token T slo status | alerts | stuck``: the same output and exit
codes as the commands on the database, from the server's objectives."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli import Invoke, clean_cli_environment, cli_invoker
from _live import LiveApi, live, live_api
from _slo_shop import make_history, with_objectives

import daytwo
from daytwo.api import Role

__all__ = ["clean_cli_environment", "live"]

# The output comparisons are about the CLI and the remote client, which do not depend on the
# backend (the routes' behaviour is tested on both in test_api_*): PostgreSQL in the soak run.
pytestmark = pytest.mark.soak_on_postgresql

#: The shop with the same objectives at the server's fake time, for the local commands.
APP_MODULE = """\
import daytwo
from _shop import register_shop
from _slo_shop import with_objectives

app = with_objectives(register_shop(daytwo.App(clock=daytwo.FakeClock({now!r}))))
"""


@pytest.fixture
def slo_live(shop: daytwo.App, clock: daytwo.FakeClock) -> Iterator[LiveApi]:
    make_history(with_objectives(shop), clock)
    with live_api(shop) as server:
        yield server


@pytest.fixture
def local(
    slo_live: LiveApi, db_url: str, tmp_path: Path, clock: daytwo.FakeClock
) -> Iterator[Invoke]:
    """The commands on the database, with ``--app`` the server's app at the server's time."""
    module = tmp_path / "shop_cli.py"
    module.write_text(APP_MODULE.format(now=clock.now()))
    invoke = cli_invoker(db_url, COLUMNS="200", DAYTWO_APP=f"{module}:app")
    yield invoke
    imported = sys.modules.pop("shop_cli", None)
    if imported is not None:
        imported.app.close()


def remote_invoker(live: LiveApi, token: str) -> Invoke:
    """The commands with no database at all, only the server and ``token``."""
    return cli_invoker(
        "sqlite:////nonexistent/never-used.db", COLUMNS="200",
        DAYTWO_SERVER=live.url, DAYTWO_TOKEN=token,
    )  # fmt: skip


@pytest.fixture
def remote(slo_live: LiveApi) -> Invoke:
    return remote_invoker(slo_live, slo_live.tokens[str(Role.VIEWER)])


def test_the_slo_commands_print_the_same_over_the_server(local: Invoke, remote: Invoke) -> None:
    for args in (
        ("slo", "status"),
        ("slo", "status", "--json"),
        ("slo", "alerts"),
        ("slo", "alerts", "--all", "--json"),
        ("slo", "alerts", "--objective", "order-ok", "--limit", "1"),
        ("slo", "stuck"),
        ("slo", "stuck", "--json"),
        ("slo", "stuck", "--workflow", "plain"),
        ("slo", "alerts", "--limit", "0"),
    ):
        here, there = local(*args), remote(*args)
        assert (there.exit_code, there.stderr) == (here.exit_code, here.stderr), args
        assert there.stdout == here.stdout, args
    table = remote("slo", "status").stdout
    assert "order-ok" in table and "95.0% within 5m" in table and "firing (page" in table


def test_a_scoped_token_over_the_server(slo_live: LiveApi) -> None:
    plain = remote_invoker(slo_live, slo_live.token("plain-only", Role.VIEWER, workflows=["plain"]))
    status = plain("slo", "status")
    assert status.exit_code == 0 and "plain-ok" in status.stdout
    assert "order-ok" not in status.stdout
    refused = plain("slo", "stuck", "--workflow", "order")
    assert refused.exit_code == 8 and "plain-only" in refused.stderr
    nothing = remote_invoker(slo_live, slo_live.token("refunds", Role.VIEWER, workflows=["refund"]))
    empty = nothing("slo", "status")
    assert empty.exit_code == 2
    assert empty.stderr.startswith("error: no objectives to evaluate: the server at")


def test_what_cannot_work_over_the_server_says_why(
    slo_live: LiveApi, remote: Invoke, tmp_path: Path
) -> None:
    yaml = tmp_path / "more.yaml"
    yaml.write_text("objectives: []\n")
    with_files = remote("slo", "status", "--objectives", str(yaml))
    assert with_files.exit_code == 2 and "--objectives cannot be used with --server" in (
        with_files.stderr
    )
    evaluate = remote("slo", "evaluate")
    assert evaluate.exit_code == 2 and "not available over --server" in evaluate.stderr
    anonymous = remote_invoker(slo_live, "dt_not_a_token")("slo", "alerts")
    assert anonymous.exit_code == 8


def test_a_server_without_objectives_has_no_slo_routes(live: LiveApi) -> None:
    result = remote_invoker(live, live.tokens[str(Role.VIEWER)])("slo", "alerts")
    assert result.exit_code == 2
    assert f"the server at {live.url} serves no SLO routes" in result.stderr
    assert "daytwo serve --app MODULE:APP" in result.stderr
