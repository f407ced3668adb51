"""The sub-APIs of a :class:`RemoteClient` over HTTP: tasks, flow control, breakers,
schedules, the audit log. Each subclasses the local one and replaces the methods the CLI
calls with requests; a method not replaced reaches for the database and is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from daytwo.store import FlowControl

if TYPE_CHECKING:
    from daytwo.api._remote import RemoteClient

__all__ = ["RemoteFlow", "attach"]


class RemoteFlow(FlowControl):
    """Flow control over HTTP: queues, pauses and dependency limits."""

    def __init__(self, client: RemoteClient) -> None:  # no store: every call is a request
        self._remote = client


def attach(client: RemoteClient) -> None:
    """Give ``client`` its remote sub-APIs (filled in as their routes land)."""
