"""The App of a command run with ``daytwo --server URL``: no workflow code, no database.

A few commands need an App rather than a Client (the SLO ones: objectives hang on the App,
``daytwo.cli.client_app``). Over ``--server`` their App is a :class:`RemoteApp`: its client
is the :class:`~daytwo.api.RemoteClient`, so every client method of the App goes over HTTP,
and a package's command reaches its own routes with ``app.client.call``. What needs the
database itself (:attr:`store`, and with it the runtime and the collectors) is refused with
a message saying so, never opened on this machine.
"""

from __future__ import annotations

from typing import NoReturn

from daytwo.api._remote import RemoteClient
from daytwo.app import App

__all__ = ["RemoteApp"]


class RemoteApp(App):
    """An App whose client is a :class:`RemoteClient` (``daytwo --server``)."""

    def __init__(self, client: RemoteClient) -> None:
        super().__init__(create=False)
        self.client = client
        # The sub-APIs over HTTP, where the RemoteClient has them (_remote_parts.py).
        for part in ("tasks", "breakers", "schedules"):
            if hasattr(client, part):
                setattr(self, part, getattr(client, part))

    @property
    def remote(self) -> RemoteClient:
        """The client, typed as what it is."""
        assert isinstance(self.client, RemoteClient)
        return self.client

    @property
    def store(self) -> NoReturn:
        self.remote.needs_database("this command")

    @property
    def database_url(self) -> str:
        """The server's URL (shown where a local command shows its database)."""
        return self.remote.database_url

    @database_url.setter
    def database_url(self, url: str) -> None:
        self.remote.needs_database("--database")

    def __repr__(self) -> str:
        return f"<daytwo.api.RemoteApp {self.remote.database_url}>"
