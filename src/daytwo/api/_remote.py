"""The Client over HTTP: what ``daytwo --server URL --token T ...`` runs its commands with.

:class:`RemoteClient` is a :class:`~daytwo.Client` whose methods are requests to the API
(``/v1``) instead of statements on a database: the server runs the real Client method and
answers with the same records as JSON, which are parsed back into the same dataclasses, so
every command prints exactly what it prints locally. An error comes back as the same
exception (``_remote_errors.py``), so the exit codes are the same too. Anything that would
need the database itself (``client.store``) is refused with a message saying so.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import TypeAdapter

import daytwo
from daytwo._client import Client, outcome
from daytwo._handles import InstanceHandle
from daytwo._instance_pages import InstancePage
from daytwo._records import Attempt, HistoryEvent, Instance, Transition
from daytwo.api._remote_actions import RemoteActions
from daytwo.api._remote_errors import NotOverHttp, error_of
from daytwo.api._server import PREFIX
from daytwo.engine import JsonSerializer, SystemClock
from daytwo.store import TERMINAL_STATUSES, FlowControl, Store

__all__ = ["RemoteClient", "shown_url"]

T = TypeVar("T")

#: Seconds between polls of a remote ``result()`` wait.
_POLL = 0.25


def shown_url(url: str) -> str:
    """``url`` without a password (``https://ops:***@host``): for messages and captions."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RemoteClient(RemoteActions, Client):
    """A Client that calls a daytwo API server (``daytwo serve``) with a bearer token."""

    def __init__(self, server: str, token: str | None, *, timeout: float = 60.0) -> None:
        if not server.startswith(("http://", "https://")):
            raise daytwo.InvalidInput(
                f"--server {shown_url(server)!r} is not an http:// or https:// URL; give the "
                "address of daytwo serve, e.g. --server http://127.0.0.1:8080"
            )
        if urlsplit(server).password is not None or "@" in urlsplit(server).netloc:
            raise daytwo.InvalidInput(
                f"--server {shown_url(server)!r} carries a user name or password; daytwo "
                "authenticates with the bearer token (--token or $DAYTWO_TOKEN), so give the "
                "URL without them"
            )
        headers = {"User-Agent": f"daytwo/{daytwo.__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._server = server.rstrip("/")
        self._http = httpx.Client(base_url=self._server + PREFIX, headers=headers, timeout=timeout)
        self.serializer = JsonSerializer()
        self.clock = SystemClock()
        self.caller = "client"
        self._attach_parts()

    def _attach_parts(self) -> None:
        """The sub-APIs (tasks, breakers, audit, schedules) over HTTP (``_remote_parts``)."""
        from daytwo.api import _remote_parts

        _remote_parts.attach(self)

    # -- the transport --------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        into: Any = None,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """One request; the answer parsed as ``into`` (a type; None: nothing), or the
        server's error raised as the daytwo exception it stands for."""
        try:
            response = self._http.request(
                method, path, json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise daytwo.StoreUnavailable(
                f"cannot reach the daytwo server at {shown_url(self._server)}: "
                f"{type(exc).__name__}: {exc}; is daytwo serve running there?"
            ) from None
        if response.status_code >= 400:
            raise error_of(response)
        if into is None:
            return None
        return TypeAdapter(into).validate_python(response.json())

    def needs_database(self, what: str) -> NoReturn:
        raise NotOverHttp(
            f"{what} needs the database itself and cannot run over --server; run it where "
            "the database is reachable (without --server)"
        )

    # -- what a Client over a database has, refused or answered for HTTP ------------------

    @property
    def database_url(self) -> str:
        """The server's URL (shown where a local command shows its database)."""
        return shown_url(self._server)

    @database_url.setter
    def database_url(self, url: str) -> None:
        self.needs_database("--database")

    @property
    def store(self) -> Store:
        self.needs_database("this command")

    @property
    def flow(self) -> FlowControl:
        from daytwo.api._remote_parts import RemoteFlow

        return RemoteFlow(self)

    def close(self) -> None:
        self._http.close()

    # -- starting and acting --------------------------------------------------------------

    def start(
        self,
        workflow: str,
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        timeout: timedelta | float | None = None,
    ) -> InstanceHandle:
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        body = {
            "workflow": workflow, "input": input, "id": id, "version": version,
            "queue": queue, "priority": priority, "timeout": seconds,
        }  # fmt: skip
        started = self.call("POST", "/instances", dict, json=body)
        return InstanceHandle(self, started["id"], created=started["created"])

    def signal(
        self, instance_id: str, name: str, payload: Any = None, *, sent_by: str | None = None
    ) -> None:
        body = {"name": name, "payload": payload}
        self.call("POST", f"/instances/{_seg(instance_id)}/signals", json=body)

    def cancel(
        self, instance_id: str, reason: str = "cancelled by operator", *, by: str | None = None
    ) -> None:
        self.call("POST", f"/instances/{_seg(instance_id)}/cancel", json={"reason": reason})

    # -- reading --------------------------------------------------------------------------

    def handle(self, instance_id: str) -> InstanceHandle:
        self.workflow_of(instance_id)
        return InstanceHandle(self, instance_id)

    def get(self, instance_id: str) -> Instance:
        instance: Instance = self.call("GET", f"/instances/{_seg(instance_id)}", Instance)
        return instance

    status = get

    def workflow_of(self, instance_id: str) -> str:
        return self.get(instance_id).workflow

    def result(self, instance_id: str, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            instance = self.get(instance_id)
            if instance.status in TERMINAL_STATUSES:
                return outcome(instance)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"instance {instance_id!r} is still {instance.status} "
                    f"(state {instance.state!r}) after {timeout} s"
                )
            time.sleep(_POLL)

    def page(
        self,
        *,
        workflow: str | None = None,
        status: str | Sequence[str] | None = None,
        state: str | None = None,
        limit: int = 100,
        after: str | None = None,
        workflows: Sequence[str] | None = None,
    ) -> InstancePage:
        statuses = [status] if isinstance(status, str) else status
        params = {"workflow": workflow, "status": statuses, "state": state, "limit": limit,
                  "after": after}  # fmt: skip
        found = self.call("GET", "/instances", dict, params=params)
        items = TypeAdapter(list[Instance]).validate_python(found["items"])
        return InstancePage(items, found["next"])

    def list(
        self,
        *,
        workflow: str | None = None,
        status: str | Sequence[str] | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Instance]:
        return self.page(workflow=workflow, status=status, state=state, limit=limit).items

    def history(self, instance_id: str) -> builtins.list[HistoryEvent]:
        found: builtins.list[HistoryEvent] = self.call(
            "GET", f"/instances/{_seg(instance_id)}/history", builtins.list[HistoryEvent]
        )
        return found

    def attempts(self, instance_id: str) -> builtins.list[Attempt]:
        found: builtins.list[Attempt] = self.call(
            "GET", f"/instances/{_seg(instance_id)}/attempts", builtins.list[Attempt]
        )
        return found

    def transitions(self, instance_id: str) -> builtins.list[Transition]:
        found: builtins.list[Transition] = self.call(
            "GET", f"/instances/{_seg(instance_id)}/transitions", builtins.list[Transition]
        )
        return found

    def __repr__(self) -> str:
        return f"<daytwo.api.RemoteClient {shown_url(self._server)}>"


def _seg(text: str) -> str:
    """``text`` as one path segment (an id with a slash stays one segment)."""
    from urllib.parse import quote

    return quote(text, safe="")
