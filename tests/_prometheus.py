"""Prometheus for the tests: promtool and a real server, both from the distribution's package.

``scripts/promtool`` and ``scripts/prometheus`` install the ``prometheus`` package when the
binary is missing. :class:`PrometheusServer` runs a throwaway server on loopback (a free
port, a temporary storage directory, 1 s scrape and rule evaluation) and reads its HTTP API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from _harness import free_port, wait_until
from conftest import ROOT

__all__ = ["PrometheusServer", "find_or_install", "run_promtool"]


def find_or_install(binary: str) -> tuple[str | None, str]:
    """(path, "") of ``binary``, installed by ``scripts/<binary>`` when missing, else
    (None, why not)."""
    found = shutil.which(binary)
    if found:
        return found, ""
    result = subprocess.run(
        [str(ROOT / "scripts" / binary)], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0 or not result.stdout.strip():
        return None, result.stderr.strip()
    return result.stdout.strip().splitlines()[-1], ""


def run_promtool(promtool: str, *args: str, cwd: Path) -> str:
    result = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class PrometheusServer:
    """A Prometheus server scraping ``targets`` every second with ``rules`` loaded."""

    def __init__(self, binary: str, directory: Path, targets: list[str], rules: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (directory / "rules.yaml").write_text(rules)
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": ["rules.yaml"],
            "scrape_configs": [
                {"job_name": "daytwo", "static_configs": [{"targets": targets}]},
            ],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self._log = (directory / "prometheus.log").open("w")
        self._process = subprocess.Popen(
            [binary, f"--config.file={directory / 'prometheus.yml'}",
             f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=directory,
        )  # fmt: skip
        try:
            wait_until(self._ready, timeout=60, what="Prometheus to be ready")
        except BaseException:
            self.close()
            raise

    def _ready(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(f"Prometheus exited with {self._process.returncode}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of ``expression`` now."""
        result: list[dict[str, Any]] = self.api("query", query=expression)["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending and firing) alerts."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=30)
        self._log.close()

    def log(self) -> str:
        """The end of the server's own log, for a failing assertion."""
        return Path(self._log.name).read_text()[-4000:]

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
