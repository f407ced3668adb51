"""Refuse request bodies over a size (413) before they are read into memory."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daytwo.api._problems import PROBLEM_JSON

__all__ = ["BodyLimit"]


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a declared ``Content-Length`` over ``limit`` is refused at once; a
    body sent without one (chunked) is counted as it arrives and refused when it passes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(scope, send)
                return
        seen = 0
        started = False

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, tracking)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body: dict[str, Any] = {
            "type": "urn:daytwo:problem:too-large", "title": "Too large", "status": 413,
            "detail": f"the request body is over {self.limit} bytes; send less (daytwo serve "
            "--max-body sets the limit)",
            "instance": scope.get("path"),
        }  # fmt: skip
        data = json.dumps(body).encode()
        await send({
            "type": "http.response.start", "status": 413,
            "headers": [(b"content-type", PROBLEM_JSON.encode()),
                        (b"content-length", str(len(data)).encode()),
                        (b"connection", b"close")],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": data})
