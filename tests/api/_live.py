"""A real daytwo API server on loopback, in a thread of the test process, and its tokens.

Test modules import the ``live`` fixture from here (``from _live import LiveApi, live``
and name it in ``__all__``): a ``conftest.py`` in ``tests/api`` would be a second top-level
module named ``conftest`` for mypy.

The server is uvicorn serving :func:`daytwo.api.create_api` of the test's App on a free
port; requests go over TCP with httpx, as any client's would. One token per role is made
through :class:`daytwo.api.Tokens` (the same code as ``daytwo tokens create``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

import daytwo
from daytwo.api import Role, Tokens, create_api
from daytwo.api._serve import ApiServer


@dataclass
class LiveApi:
    """A running server: its base URL and a token secret per role (``tokens[Role.VIEWER]``)."""

    url: str
    app: daytwo.App
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, name: str, role: Role | str, **options: object) -> str:
        """A new token's secret (``workflows=[...]``, ``expires="1h"``)."""
        store = self.app.client
        made = Tokens(lambda: store.store, store.clock.now).create(
            name,
            role,
            by="test",
            **options,  # type: ignore[arg-type]
        )
        return made.secret

    def http(
        self, role: Role | str | None = Role.ADMIN, *, secret: str | None = None
    ) -> httpx.Client:
        """An httpx client for the server with the token of ``role`` (None: no token)."""
        headers = {}
        chosen = secret or (None if role is None else self.tokens[str(role)])
        if chosen is not None:
            headers["Authorization"] = f"Bearer {chosen}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def live_api(app: daytwo.App, *, max_body: int | None = None) -> Iterator[LiveApi]:
    """Serve ``app`` on 127.0.0.1 (a free port) until the block ends."""
    app.store  # noqa: B018 -- create the database before the server reads it
    options = {} if max_body is None else {"max_body": max_body}
    config = uvicorn.Config(
        create_api(app, **options), host="127.0.0.1", port=0, log_config=None,
        access_log=False, lifespan="off",
    )  # fmt: skip
    server = ApiServer(config)  # it ends open event streams when it stops
    thread = threading.Thread(target=server.run, name="test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test API server did not start")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    live = LiveApi(f"http://{host}:{port}", app)
    for role in Role:
        live.tokens[str(role)] = live.token(f"{role}-token", role)
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live(shop: daytwo.App) -> Iterator[LiveApi]:
    """The order shop (``tests/_shop.py``, fake clock) behind a live API server."""
    with live_api(shop) as server:
        yield server
