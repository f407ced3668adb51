"""Shared fixtures: a fresh SQLite database per test, apps with a fake or real clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import daytwo


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A database URL in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'daytwo.db'}"


@pytest.fixture
def clock() -> daytwo.FakeClock:
    """A clock that only moves when the test advances it."""
    return daytwo.FakeClock()


@pytest.fixture
def app(db_url: str) -> Iterator[daytwo.App]:
    """An app on a fresh database with the real clock."""
    application = daytwo.App(db_url)
    yield application
    application.close()


@pytest.fixture
def fake_app(db_url: str, clock: daytwo.FakeClock) -> Iterator[daytwo.App]:
    """An app on a fresh database with a fake clock."""
    application = daytwo.App(db_url, clock=clock)
    yield application
    application.close()
