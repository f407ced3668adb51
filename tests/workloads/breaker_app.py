"""A workload for the circuit-breaker crash test: one step calling ``pay``, which has a
breaker, and which is down while the file ``down`` exists in ``$DAYTWO_BREAKER_DIR`` and
hangs (a call that never returns, to be killed in) while ``hang`` exists there."""

from __future__ import annotations

import os
import time
from pathlib import Path

import daytwo

DIRECTORY_ENV = "DAYTWO_BREAKER_DIR"
POLICY = daytwo.BreakerPolicy(window=2, minimum_calls=2, open_for=1, half_open_calls=1)

app = daytwo.App()
app.circuit_breaker("pay", POLICY)


def _marker(name: str) -> bool:
    return (Path(os.environ[DIRECTORY_ENV]) / name).exists()


@app.step(dependency="pay", retry=daytwo.Retry(max_attempts=3, initial_delay=0.2, jitter=0))
def charge(order: int) -> int:
    while _marker("hang"):
        time.sleep(0.05)
    if _marker("down"):
        raise ConnectionError("pay is down")
    return order


@app.workflow(name="order")
def order(ctx: daytwo.Context, number: int) -> int:
    return charge(number)
