"""The extension contract: an operations package's workflows, services and CLI plug in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from _harness import wait_until

import daytwo
from daytwo.store import EventKind, OutboxEvent


class _Tick:
    name = "audit-tick"
    interval = 0.01

    def __init__(self) -> None:
        self.rounds = 0

    def run_once(self) -> None:
        self.rounds += 1


class _BadEnds:
    """Reacts to instances that ended badly (through the outbox)."""

    name = "audit-bad-ends"
    kinds = (EventKind.INSTANCE_ENDED_BADLY,)

    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, event: OutboxEvent) -> None:
        self.seen.append(event.key)


class Audit(daytwo.Extension):
    """A toy operations package: a system workflow, a background service, a subscriber."""

    name = "audit"

    def __init__(self) -> None:
        self.tick = _Tick()
        self.bad_ends = _BadEnds()
        self.closed = threading.Event()

    def attach(self, app: daytwo.App) -> None:
        @app.workflow(name="audit.sweep")
        def sweep(ctx: daytwo.Context, _: None) -> str:
            return "swept"

        @app.workflow(name="audit.broken")
        def broken(ctx: daytwo.Context, _: None) -> None:
            raise RuntimeError("broken on purpose")

    def services(self) -> list[Any]:
        return [self.tick]

    def subscribers(self) -> list[Any]:
        return [self.bad_ends]

    def close(self) -> None:
        self.closed.set()


def test_an_extension_brings_system_workflows_and_services(db_url: str) -> None:
    audit = Audit()
    app = daytwo.App(db_url, extensions=[audit])
    assert app.extensions == [audit] and app.extension(Audit) is audit
    with app.worker(concurrency=1) as worker:
        handle = app.start("audit.sweep")  # dogfood: it runs on the engine like any workflow
        assert handle.result(timeout=30) == "swept"
        wait_until(lambda: audit.tick.rounds > 0, timeout=30, what="the service's first round")
        assert audit.tick in worker.services
        failed = app.start("audit.broken")
        with pytest.raises(daytwo.WorkflowFailed):
            failed.result(timeout=30)
        wait_until(lambda: audit.bad_ends.seen == [failed.id], timeout=30, what="the event")
    app.close()
    assert audit.closed.is_set()


def test_an_extension_is_used_once_and_must_be_one(tmp_path: Path) -> None:
    app = daytwo.App(f"sqlite:///{tmp_path / 'x.db'}")
    app.use(Audit())
    with pytest.raises(daytwo.InvalidInput, match="already uses the 'audit' extension"):
        app.use(Audit())
    with pytest.raises(daytwo.InvalidInput, match=r"not a daytwo\.Extension"):
        app.use(object())  # type: ignore[arg-type]


_PLUGIN = '''
from typing import Annotated

import typer

from daytwo.cli import CliError, CliPlugin

acme = typer.Typer(name="acme", help="Acme operations.", no_args_is_help=True)


@acme.command("hello")
def hello(name: str) -> None:
    """Say hello."""
    if name == "nobody":
        raise CliError("nobody is not a name; give a name")
    print(f"hello {name}")


def worker_options(
    acme_level: Annotated[int, typer.Option("--acme-level", help="Acme level.")] = 1,
) -> None:
    """Acme's worker options."""


def configure(app, values):
    return [f"acme level {values['acme_level']}"]


plugin = CliPlugin(groups=[acme], worker_options=worker_options, configure_worker=configure)
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A distribution on a path of its own whose entry points name a CLI plugin, and one
    whose plugin fails to import."""
    (tmp_path / "acme_ops.py").write_text(textwrap.dedent(_PLUGIN))
    (tmp_path / "broken_ops.py").write_text("raise ImportError('broken on purpose')\n")
    for name, target in (
        ("acme_ops", "acme = acme_ops:plugin"),
        ("broken_ops", "broken = broken_ops:plugin"),
    ):
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[daytwo.cli]\n{target}\n")
    return tmp_path


def _daytwo(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(path), "COLUMNS": "100"}
    env.pop("DAYTWO_DATABASE", None)
    return subprocess.run(
        [sys.executable, "-m", "daytwo", *args], capture_output=True, text=True, env=env,
        cwd=path, timeout=60,
    )  # fmt: skip


def test_an_installed_cli_plugin_adds_its_group_and_worker_options(plugin_path: Path) -> None:
    hello = _daytwo(plugin_path, "acme", "hello", "ada")
    assert hello.returncode == 0 and hello.stdout == "hello ada\n", hello.stderr
    refused = _daytwo(plugin_path, "acme", "hello", "nobody")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: nobody is not a name; give a name"
    listing = _daytwo(plugin_path, "--help")
    assert "acme" in listing.stdout and "slo" in listing.stdout
    assert "broken" in listing.stderr  # a plugin that fails to load is named, not fatal
    worker_help = _daytwo(plugin_path, "worker", "--help")
    assert "--acme-level" in worker_help.stdout and "--slo-interval" in worker_help.stdout
    bad = _daytwo(plugin_path, "worker", "--acme-level", "high")
    assert bad.returncode == 2 and "--acme-level" in bad.stderr


def test_a_command_loads_no_plugin_it_does_not_need(plugin_path: Path) -> None:
    probe = (
        "import sys, daytwo.cli._main as m\n"
        "m.app(['list', '--json'], prog_name='daytwo', standalone_mode=False)\n"
        "print('acme_ops' in sys.modules, 'daytwo.slo' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    env.pop("DAYTWO_DATABASE", None)
    check = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True, text=True, env=env, cwd=plugin_path, timeout=60,
    )  # fmt: skip
    assert check.stdout.strip().splitlines()[-1] == "False False", check.stderr
