"""Running the CLI in-process in tests: a clean environment and an invoker per database."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner, Result

from daytwo.cli._main import app as cli

#: ``invoke("list", "--json", env={...})`` runs ``daytwo list --json``.
Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def clean_cli_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ambient database or app, and a fresh ``cli_app`` module (so a fresh App) per test.

    Import it into a test module to apply it to every test there.
    """
    monkeypatch.delenv("DAYTWO_DATABASE", raising=False)
    monkeypatch.delenv("DAYTWO_APP", raising=False)
    sys.modules.pop("cli_app", None)
    yield
    module = sys.modules.pop("cli_app", None)
    if module is not None:
        module.app.close()


def cli_invoker(db_url: str, **environment: str) -> Invoke:
    """Run the CLI against ``db_url`` (as $DAYTWO_DATABASE) with ``environment`` set."""
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        full = {"DAYTWO_DATABASE": db_url, **environment, **(env or {})}
        return runner.invoke(cli, list(args), env=full)

    return run
