"""What every route works with: the App, its Client and the tokens (one per server)."""

from __future__ import annotations

from dataclasses import dataclass

from daytwo._client import Client
from daytwo.api._tokens import Tokens
from daytwo.app import App

__all__ = ["ApiContext"]


@dataclass(frozen=True)
class ApiContext:
    """The API's view of one daytwo database."""

    app: App
    #: Largest request body accepted, in bytes (larger: 413).
    max_body: int

    @property
    def client(self) -> Client:
        return self.app.client

    @property
    def tokens(self) -> Tokens:
        return Tokens(lambda: self.app.client.store, self.app.client.clock.now)
