"""``daytwo serve`` in a process of its own, for the API benchmark.

The server runs as an operator runs it (``daytwo serve --app _api_app:app``, access log on,
no worker), so the client threads of the benchmark and the server do not share a GIL. Its
stderr goes to a file (a pipe nobody reads would fill and stall it); the port is read from
the line ``daytwo serve`` prints once it listens.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ApiServer"]

HERE = Path(__file__).resolve().parent
_LISTENING = re.compile(r"daytwo API on (http://[\d.]+:\d+)")


class ApiServer:
    """``with ApiServer(database, logs) as url:`` a running server at ``url``."""

    def __init__(self, database: str, logs: Path, *, startup_s: float = 60) -> None:
        self.database = database
        self.logs = logs
        self.startup_s = startup_s
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        daytwo = Path(sys.executable).with_name("daytwo")
        environment = {
            **os.environ,
            "DAYTWO_BENCH_DATABASE": self.database,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }
        environment.pop("DAYTWO_DATABASE", None)
        with self.logs.open("wb") as log:
            self.process = subprocess.Popen(
                [str(daytwo), "serve", "--app", "_api_app:app", "--port", "0"],
                cwd=HERE, env=environment, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self._wait_until_ready()

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def _wait_until_ready(self) -> str:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daytwo serve exited: {self.logs.read_text()[-2000:]}")
            found = _LISTENING.search(self.logs.read_text(errors="replace"))
            if found:
                url = found[1]
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    return url
            time.sleep(0.05)
        raise RuntimeError(f"daytwo serve did not listen within {self.startup_s:.0f} s")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
