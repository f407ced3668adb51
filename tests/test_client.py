"""daytwo.Client: everything a process without the workflow code does (issue 10 item 4).

The workers here are those of an App object of their own (in this process, or another
process); each Client is made from the database URL alone, so it knows the workflows only
from what the workers registered. Also: the App ⇄ Worker import cycle is gone.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cli import cli_invoker
from _postgres import new_database

import daytwo

SRC = Path(__file__).resolve().parents[1] / "src" / "daytwo"


class TaggedJson:
    """A serializer other than the default: JSON behind a marker, so that a value decoded
    with plain JSON (the wrong serializer) cannot pass for the right one."""

    def dumps(self, value: Any, what: str) -> str:
        return "tagged:" + daytwo.JsonSerializer().dumps(value, what)

    def loads(self, text: str) -> Any:
        assert text.startswith("tagged:"), text
        return json.loads(text.removeprefix("tagged:"))


def code_app(url: str, **options: Any) -> daytwo.App:
    """The workflow code, in an App of its own (the Client never sees this object)."""
    app = daytwo.App(url, **options)

    @app.step
    def greet(name: str) -> str:
        return f"hello {name}"

    @app.workflow(name="greeting")
    def greeting(ctx: daytwo.Context, who: dict[str, str]) -> dict[str, Any]:
        return {"greeting": greet(who["name"]), "reply": ctx.wait_for_signal("reply")}

    @app.workflow(name="approval", version="1")
    def approval_v1(ctx: daytwo.Context, amount: int) -> Any:
        return ctx.human_task("approve", assignee="role:manager", payload={"amount": amount})

    @app.workflow(name="approval", version="2", queue="approvals", priority=7)
    def approval_v2(ctx: daytwo.Context, amount: int) -> Any:
        return ctx.human_task("approve", assignee="role:manager", payload={"amount": amount})

    @app.workflow(name="nap")
    def nap(ctx: daytwo.Context, _: Any) -> str:
        ctx.sleep(3600)
        return "rested"

    return app


@pytest.fixture
def code(db_url: str) -> Iterator[daytwo.App]:
    app = code_app(db_url)
    yield app
    app.close()


@pytest.fixture
def client(db_url: str, code: daytwo.App) -> Iterator[daytwo.Client]:
    code.list(limit=1)  # the App creates the database; a Client never does
    client = daytwo.Client(db_url)
    yield client
    client.close()


def test_a_client_starts_signals_reads_and_waits_for_what_a_worker_runs(
    code: daytwo.App, client: daytwo.Client
) -> None:
    with code.worker(queues=["default", "approvals"]):
        handle = client.start("greeting", {"name": "Ada"}, id="g-1")
        assert handle.created and handle.client is client
        handle.signal("reply", {"ok": True})
        assert handle.result(timeout=30) == {"greeting": "hello Ada", "reply": {"ok": True}}
    instance = client.get("g-1")
    assert (instance.status, instance.workflow, instance.version) == ("SUCCEEDED", "greeting", "1")
    assert instance.input == {"name": "Ada"}
    assert [e.kind for e in client.history("g-1")] == ["step", "signal"]
    assert client.history("g-1")[0].result == "hello Ada"
    assert client.transitions("g-1")[0].to_state == "queued"
    assert client.attempts("g-1") == []
    assert [i.id for i in client.list(workflow="greeting", status="SUCCEEDED")] == ["g-1"]
    assert client.handle("g-1").status() == client.get("g-1")
    # The same start again is the same instance, as with App.start.
    again = client.start("greeting", {"name": "Ada"}, id="g-1")
    assert not again.created
    with pytest.raises(daytwo.InstanceConflict):
        client.start("greeting", {"name": "Bob"}, id="g-1")


def test_a_client_cancels_and_works_the_task_inbox(code: daytwo.App, client: daytwo.Client) -> None:
    with code.worker(queues=["default", "approvals"]) as worker:
        nap = client.start("nap", id="nap-1")
        approval = client.start("approval", 120, id="a-1")
        worker.drain()
        client.cancel("nap-1", "not needed")
        with pytest.raises(daytwo.WorkflowFailed, match="CANCELLED"):
            nap.result(timeout=30)
        [task] = client.tasks.list(assignee="role:manager")
        assert (task.instance_id, task.payload) == ("a-1", {"amount": 120})
        client.tasks.reassign(task.id, "alice")
        client.tasks.complete(task.id, {"approved": True}, by="alice")
        assert approval.result(timeout=30) == {"approved": True}
    assert client.tasks.get(task.id).completed_by == "alice"
    with pytest.raises(daytwo.NotRunnable, match="already ended CANCELLED"):
        client.cancel("nap-1")
    with pytest.raises(daytwo.NotRunnable, match="already completed"):
        client.tasks.complete(task.id, {"approved": False})


def test_a_client_starts_with_the_defaults_the_workers_registered(
    code: daytwo.App, client: daytwo.Client
) -> None:
    code.worker(queues=["approvals"]).start().stop()  # registered, then stopped
    newest = client.start("approval", 5)
    assert (newest.status().version, newest.status().queue, newest.status().priority) == (
        "2",
        "approvals",
        7,
    )
    older = client.start("approval", 5, version="1")
    assert (older.status().version, older.status().queue, older.status().priority) == (
        "1",
        "default",
        0,
    )
    given = client.start("approval", 5, queue="urgent", priority=-3)
    assert (given.status().queue, given.status().priority) == ("urgent", -3)
    # A version no worker registered is stored with the defaults given (none: default, 0).
    blind = client.start("approval", 5, version="3")
    assert (blind.status().version, blind.status().queue) == ("3", "default")
    assert blind.status().waiting_for == "no live worker (start one: daytwo worker MODULE:APP)"


def test_bad_input_gives_one_line_errors(code: daytwo.App, client: daytwo.Client) -> None:
    with pytest.raises(daytwo.WorkflowNotFound) as unknown:
        client.start("greting", {"name": "Ada"})
    message = str(unknown.value)
    assert "\n" not in message
    assert "unknown workflow 'greting'; workflows registered by workers: none" in message
    assert "give the version" in message
    code.worker().start().stop()
    with pytest.raises(daytwo.WorkflowNotFound, match="approval, greeting, nap"):
        client.start("greting", {"name": "Ada"})
    for call in (
        lambda: client.get("nope"),
        lambda: client.signal("nope", "reply"),
        lambda: client.cancel("nope"),
        lambda: client.history("nope"),
        lambda: client.result("nope", timeout=1),
        lambda: client.handle("nope"),
    ):
        with pytest.raises(daytwo.InstanceNotFound, match="'nope'"):
            call()
    with pytest.raises(daytwo.TaskNotFound):
        client.tasks.complete("nope", None)
    with pytest.raises(daytwo.InvalidInput, match="by name"):
        client.start(code_app, None)  # type: ignore[arg-type]
    with pytest.raises(daytwo.InvalidInput, match="unknown status"):
        client.list(status="DONE")
    assert client.list() == []  # nothing was stored


def test_a_client_never_creates_a_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        missing = tmp_path / "missing.db"
        client = daytwo.Client(f"sqlite:///{missing}")
        with pytest.raises(daytwo.StoreUnavailable, match="no daytwo database at") as refused:
            client.list()
        assert not missing.exists()
        assert "\n" not in str(refused.value)
        return
    with new_database(request.getfixturevalue("postgres_server"), "empty") as url:
        client = daytwo.Client(url)
        with pytest.raises(daytwo.StoreUnavailable, match="the database is empty"):
            client.start("greeting", {"name": "Ada"}, version="1")
        client.close()


def test_a_client_changes_flow_control_with_the_names_workers_registered(
    code: daytwo.App, client: daytwo.Client
) -> None:
    code.worker().start().stop()
    client.flow.pause("greeting", reason="maintenance", by="ops")
    assert [(p["workflow"], p["reason"]) for p in client.flow.list_pauses()] == [
        ("greeting", "maintenance")
    ]
    with pytest.raises(daytwo.InvalidInput, match="greting"):
        client.flow.pause("greting", reason=None, by=None)
    held = client.start("greeting", {"name": "Ada"})
    assert "paused" in (held.status().held_by or "")
    client.flow.resume("greeting")


def test_app_and_client_use_their_serializer_on_every_path(db_url: str) -> None:
    code = code_app(db_url, serializer=TaggedJson())
    client = daytwo.Client(db_url, serializer=TaggedJson())
    with code.worker(queues=["default", "approvals"]) as worker:
        handle = client.start("greeting", {"name": "Ada"}, id="t-1")
        handle.signal("reply", [1, 2])
        assert handle.result(timeout=30) == {"greeting": "hello Ada", "reply": [1, 2]}
        client.start("approval", 9, id="t-2")
        worker.drain()
        [task] = client.tasks.list()
        assert task.payload == {"amount": 9}
        client.tasks.complete(task.id, "yes")
        assert client.result("t-2", timeout=30) == "yes"
    for reader in (client, code):
        assert reader.get("t-1").input == {"name": "Ada"}
        assert reader.get("t-1").output == {"greeting": "hello Ada", "reply": [1, 2]}
        assert [e.result for e in reader.history("t-1")] == ["hello Ada", [1, 2]]
    assert code.tasks.get(task.id).result == "yes"
    assert code.run("greeting", {"name": "Ada"}, id="t-1") == code.result("t-1")
    client.close()
    code.close()


def test_a_client_in_a_process_without_the_code(db_url: str, code: daytwo.App) -> None:
    """The Client process imports no workflow code (and not the App); the worker is ours."""
    code.list(limit=1)
    script = textwrap.dedent(
        """
        import sys
        import daytwo

        client = daytwo.Client(sys.argv[1])
        handle = client.start("greeting", {"name": "Ada"}, id="far-1")
        handle.signal("reply", "from afar")
        print(handle.result(timeout=60)["reply"])
        print(sorted(m for m in sys.modules if m.startswith("test")))
        """
    )
    with code.worker():
        done = subprocess.run(
            [sys.executable, "-c", script, db_url],
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if k != "DAYTWO_DATABASE"},
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["from afar", "[]"]
    assert code.get("far-1").status == "SUCCEEDED"


def test_the_command_line_without_app_starts_and_reads_through_a_client(
    db_url: str, code: daytwo.App, tmp_path: Path
) -> None:
    invoke = cli_invoker(db_url)
    code.list(limit=1)
    refused = invoke("start", "approval", "5")
    assert refused.exit_code == 2
    assert "no worker has registered it (workers registered: none)" in refused.stderr
    assert "--app MODULE:APP" in refused.stderr and len(refused.stderr.splitlines()) == 1
    code.worker(queues=["approvals"]).start().stop()
    started = invoke("start", "approval", "5", "--id", "cli-1", "--json")
    assert started.exit_code == 0, started.stderr
    shown = json.loads(started.stdout)
    assert (shown["version"], shown["queue"], shown["priority"]) == ("2", "approvals", 7)
    assert "no live worker" in started.stderr  # the note: stored, but nothing runs it now
    status = invoke("status", "cli-1", "--json")
    assert json.loads(status.stdout)["input"] == 5
    assert invoke("signal", "cli-1", "nudge").exit_code == 0
    assert invoke("cancel", "cli-1").exit_code == 0
    missing = cli_invoker(f"sqlite:///{tmp_path / 'none.db'}")("start", "approval", "5")
    assert missing.exit_code == 4 and "no daytwo database at" in missing.stderr
    assert not (tmp_path / "none.db").exists()


def _loaded_without_the_package_init(module: str) -> set[str]:
    """The daytwo modules that importing ``module`` loads, the package's ``__init__`` (which
    exports App) left out."""
    script = textwrap.dedent(
        f"""
        import importlib, importlib.util, sys, types
        spec = importlib.util.find_spec("daytwo")
        package = types.ModuleType("daytwo")
        package.__path__ = list(spec.submodule_search_locations)
        package.__version__ = "test"
        sys.modules["daytwo"] = package
        importlib.import_module({module!r})
        print("\\n".join(sorted(m for m in sys.modules if m.startswith("daytwo"))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


@pytest.mark.parametrize("module", ["daytwo.worker", "daytwo._client"])
def test_the_worker_and_the_client_load_without_the_app(module: str) -> None:
    loaded = _loaded_without_the_package_init(module)
    assert module in loaded
    assert "daytwo.app" not in loaded
    assert not {m for m in loaded if m.startswith(("daytwo.cli", "daytwo.slo"))}


def test_the_worker_package_does_not_name_the_app_even_for_type_checking() -> None:
    for path in sorted((SRC / "worker").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                assert node.module != "daytwo.app", path
                assert "daytwo.App" not in names, path
            elif isinstance(node, ast.Import):
                assert all(a.name != "daytwo.app" for a in node.names), path


def test_an_apps_client_starts_its_own_workflows_as_the_app_does(code: daytwo.App) -> None:
    # No worker has registered anything: the App's code is what its client knows.
    handle = code.client.start("approval", 3)
    assert (handle.status().version, handle.status().queue, handle.status().priority) == (
        "2",
        "approvals",
        7,
    )
    with pytest.raises(daytwo.InvalidInput):
        code.client.start("approval", {"not": "an int"})  # checked against the signature
    with pytest.raises(daytwo.InvalidInput, match="needs an input"):
        code.start("greeting", None)  # App.start: the same checks, through its client
    assert code.handle(handle.id).client is code.client
    assert code.tasks is code.client.tasks and code.flow is code.client.flow
