"""Fixtures of the HTTP API tests: the shop app served by a live server on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _live import LiveApi, live_api

import daytwo


@pytest.fixture
def live(shop: daytwo.App) -> Iterator[LiveApi]:
    """The order shop (``_shop.py``, fake clock) behind a live API server."""
    with live_api(shop) as server:
        yield server
