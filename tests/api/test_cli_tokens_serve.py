"""``daytwo tokens`` and ``daytwo serve`` as a user runs them: real processes, real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _cli import Invoke, clean_cli_environment, cli_invoker

import daytwo

__all__ = ["clean_cli_environment"]

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def invoke(app: daytwo.App, db_url: str) -> Invoke:
    app.store  # noqa: B018 -- the database exists
    return cli_invoker(db_url)


def test_a_token_is_shown_once_listed_without_its_secret_and_revoked(invoke: Invoke) -> None:
    made = invoke("tokens", "create", "--name", "ci", "--role", "operator",
                  "--workflows", "greet,other", "--expires", "90d")  # fmt: skip
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"dt_[0-9a-f]{12}_[\w-]+", secret)
    listed = invoke("tokens", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert (row["name"], row["role"], row["workflows"]) == ("ci", "operator", ["greet", "other"])
    assert secret not in listed.output and secret[16:] not in invoke("tokens", "list").output
    assert invoke("tokens", "revoke", secret).exit_code == 2  # the secret, not the id
    revoked = invoke("tokens", "revoke", row["id"], "--reason", "rotated")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert json.loads(invoke("tokens", "list", "--json").stdout) == []
    assert invoke("tokens", "revoke", row["id"]).exit_code == 3
    actions = json.loads(invoke("audit", "list", "--json").stdout)
    assert {a["action"] for a in actions} == {"token.create", "token.revoke"}
    assert secret not in json.dumps(actions)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--role", "boss"], "unknown role 'boss'"),
        (["--role", "viewer", "--expires", "soon"], "--expires 'soon' is not a duration"),
        (["--role", "viewer", "--workflows", ","], "--workflows names no workflow"),
    ],
)
def test_bad_token_options_are_one_line_errors(
    invoke: Invoke, options: list[str], says: str
) -> None:
    result = invoke("tokens", "create", "--name", "x", *options)
    assert result.exit_code == 2
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert json.loads(invoke("tokens", "list", "--json").stdout) == []


@pytest.mark.backends("sqlite")
def test_serve_with_a_worker_runs_what_it_starts_and_stops_on_sigterm(
    db_url: str, app: daytwo.App
) -> None:
    app.store  # noqa: B018
    env = {**os.environ, "DAYTWO_DATABASE": db_url, "PYTHONPATH": str(TESTS)}
    env.pop("DAYTWO_SERVER", None)
    daytwo_cli = [sys.executable, "-m", "daytwo"]
    secret = subprocess.run(
        [*daytwo_cli, "tokens", "create", "--name", "ops", "--role", "operator"],
        env=env, capture_output=True, text=True, check=True, cwd=TESTS,
    ).stdout.strip()  # fmt: skip
    server = subprocess.Popen(
        [*daytwo_cli, "serve", "--app", "cli_app:app", "--port", "0", "--worker"],
        env=env, stderr=subprocess.PIPE, text=True, cwd=TESTS,
    )  # fmt: skip
    try:
        assert server.stderr is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = server.stderr.readline()
            found = re.search(r"daytwo API and a worker on (http://[\d.]+:\d+)", line)
            url = found.group(1) if found else None
            assert line or server.poll() is None, "daytwo serve exited"
        assert url is not None
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            started = http.post(
                "/v1/instances", json={"workflow": "greet", "input": {"name": "ada"}}
            )
            assert started.status_code == 201, started.text
            instance_id = started.json()["id"]
            while http.get(f"/v1/instances/{instance_id}").json()["status"] != "SUCCEEDED":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert http.get(f"/v1/instances/{instance_id}").json()["output"] == {
                "greeting": "hello ada"
            }
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        assert secret not in server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
