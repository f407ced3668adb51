"""``daytwo serve``: the HTTP API under uvicorn, with or without a worker in the process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from daytwo.api._server import DEFAULT_MAX_BODY, create_api
from daytwo.app import App

__all__ = ["LOOPBACK", "ApiServer", "serve"]

#: Where the API listens unless told otherwise: this machine only (put a TLS-terminating
#: proxy in front to expose it; docs/deployment.md).
LOOPBACK = "127.0.0.1"

log = logging.getLogger("daytwo.api")


class ApiServer(uvicorn.Server):
    """uvicorn's server, which ends the API's event streams (``/v1/events``) as it starts
    shutting down: uvicorn waits for every open response to finish before it stops, and a
    stream would never finish by itself."""

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        from daytwo.api.routes import close_streams

        close_streams(self.config.app)
        await super().shutdown(sockets)


def serve(
    app: App,
    *,
    host: str = LOOPBACK,
    port: int = 8080,
    worker: dict[str, Any] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    started: Callable[[uvicorn.Server], None] | None = None,
) -> None:
    """Serve ``app``'s API until SIGTERM or Ctrl-C. ``worker``: also run a worker of the
    app in this process, with these options (``app.worker(**worker)``); it is stopped
    gracefully after the server. ``started`` is called once the socket listens."""
    config = uvicorn.Config(
        create_api(app, max_body=max_body), host=host, port=port, log_config=None,
        access_log=True, server_header=False, lifespan="off",
    )  # fmt: skip
    server = _Server(config)
    runner = app.worker(**worker).start() if worker is not None else None
    try:
        if started is None:
            server.run()
        else:
            _run_then_tell(server, started)
    finally:
        if runner is not None:
            runner.stop()


class _Server(ApiServer):
    """uvicorn's server, except that a SIGTERM or Ctrl-C it shut down for is not raised
    again afterwards: the worker sharing the process still has to stop gracefully (give
    back its leases), and ``daytwo serve`` then exits 0 like ``daytwo worker``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def _run_then_tell(server: uvicorn.Server, started: Callable[[uvicorn.Server], None]) -> None:
    import asyncio

    async def main() -> None:
        serving = asyncio.ensure_future(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            started(server)
        await serving

    asyncio.run(main())
