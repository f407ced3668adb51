"""Starts are acknowledged only once durable (issue 11, item 1), under SIGKILL: a producer
process starts instances from 8 threads (sharing commits) and with ``start_many``, printing
each id the moment its call returns; it is killed at a random moment; every id it printed
is stored, with its first transition, and nothing is half-stored."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import daytwo

SEED = int(os.environ.get("DAYTWO_CRASH_SEED", "20261201"))
KILLS = 3
TESTS_DIR = Path(__file__).resolve().parents[1]

PRODUCER = """
import sys, threading
from workloads.crash_app import build_app
app = build_app(sys.argv[1], sys.argv[2])
app.store
run = sys.argv[3]
out_lock = threading.Lock()

def say(ids):
    with out_lock:
        sys.stdout.write("".join(i + "\\n" for i in ids))
        sys.stdout.flush()

def starts(k):
    for n in range(100000):
        say([app.start("saga", n, id=f"{run}-{k}-{n}").id])

def batches():
    for n in range(100000):
        ids = [f"{run}-b{n}-{i}" for i in range(50)]
        say([h.id for h in app.start_many("saga", list(range(50)), ids=ids)])

threads = [threading.Thread(target=starts, args=(k,), daemon=True) for k in range(8)]
threads.append(threading.Thread(target=batches, daemon=True))
print("go", flush=True)
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


@pytest.mark.parametrize("kill", range(KILLS))
def test_every_acknowledged_start_survives_sigkill(db_url: str, tmp_path: Path, kill: int) -> None:
    rng = random.Random(SEED + kill)
    app = daytwo.App(db_url)
    app.store  # noqa: B018 -- create the tables first
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR), "DAYTWO_DATABASE": db_url}
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, db_url, str(tmp_path / "effects.log"), f"k{kill}"],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert producer.stdout is not None
    assert producer.stdout.readline().strip() == "go"
    # Killed in full flow: once starts are being acknowledged, at a random moment.
    acknowledged = [producer.stdout.readline().strip() for _ in range(20)]
    time.sleep(rng.uniform(0.0, 1.0))
    producer.send_signal(signal.SIGKILL)
    acknowledged += [line.strip() for line in producer.stdout if line.strip()]
    producer.wait(30)
    assert all(acknowledged), "the producer stopped before the kill"
    with app.store.read() as conn:
        stored = {row[0] for row in conn.execute(sa.text("SELECT id FROM instances"))}
        first = {
            row[0]
            for row in conn.execute(sa.text("SELECT instance_id FROM transitions WHERE seq = 0"))
        }
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged starts were lost, e.g. {sorted(missing)[:3]}"
    assert stored == first, "an instance without its first transition, or the reverse"
    batches = {i.rsplit("-", 1)[0] for i in stored if "-b" in i}
    for batch in batches:  # start_many is all or nothing
        assert sum(1 for i in stored if i.rsplit("-", 1)[0] == batch) == 50, batch
    app.close()
