"""An operations package brings its own routes (``Extension.routes()``), under /v1 and
behind the same tokens as the core's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from _live import live_api
from fastapi import APIRouter
from pydantic import BaseModel

import daytwo
from daytwo.api import Role, viewer


class Greeting(BaseModel):
    text: str
    caller: str


class Greeter(daytwo.Extension):
    """A package with one route: who is calling."""

    name = "greeter"

    def routes(self) -> Sequence[Any]:
        router = APIRouter(prefix="/greeter", tags=["greeter"])

        @router.get("/hello", response_model=Greeting)
        def hello(caller: viewer) -> Greeting:
            return Greeting(text="hello", caller=caller.name)

        return [router]


@pytest.mark.backends("sqlite")
def test_an_extension_route_is_mounted_under_v1_with_the_tokens(db_url: str) -> None:
    app = daytwo.App(db_url)
    app.use(Greeter())
    try:
        with live_api(app) as live:
            with live.http(Role.VIEWER) as http:
                answer = http.get("/v1/greeter/hello")
                assert answer.json() == {"text": "hello", "caller": "viewer-token"}
                assert "/v1/greeter/hello" in http.get("/openapi.json").json()["paths"]
            with live.http(None) as anonymous:
                assert anonymous.get("/v1/greeter/hello").status_code == 401
    finally:
        app.close()
