"""``/v1/events``: the outbox as a server-sent-events stream, the console's and integrations'
live feed.

Each SSE event is one outbox event: ``id:`` its ``seq``, ``event:`` its kind, ``data:`` a
:class:`StreamedEvent`. A client that reconnects with ``Last-Event-ID`` (browsers do it by
themselves) resumes right after the last event it got, because the outbox never skips one.
Without it the stream starts at ``?after=`` or, by default, now; its first message is a
comment carrying the starting position as its ``id:`` and the ``retry:`` hint, so even a
client that got no event yet resumes without a gap.

The stream polls the outbox every :data:`POLL` seconds and holds a database connection only
for each read (``_event_stream.py``); a read that fails (the database is away) is tried
again at the next poll, so the stream outlives a database restart. FastAPI sends a
keep-alive comment after 15 s of silence. The stream ends when the client goes away
(Starlette cancels it), when the server shuts down (:func:`close_streams`, called by
``daytwo serve``), or once caught up with ``follow=false``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import sqlalchemy.exc
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from daytwo._errors import InvalidInput, StoreUnavailable, one_line
from daytwo.api._auth import viewer
from daytwo.api._event_stream import EventFilter, EventWorkflows, kinds_named, read_after
from daytwo.api.routes._common import Api
from daytwo.store import EventKind, last_event_seq

__all__ = ["POLL", "RETRY_MS", "StreamedEvent", "Streams", "close_streams", "router", "streams_of"]

log = logging.getLogger("daytwo.api")

#: Seconds between reads of the outbox while a stream is caught up.
POLL = 0.5
#: How long a client should wait before reconnecting (the SSE ``retry:`` field), in ms.
RETRY_MS = 3000

router = APIRouter(prefix="/events", tags=["events"])


class StreamedEvent(BaseModel):
    """The ``data:`` of one event of the stream: an outbox event."""

    #: Its position in the outbox (also the SSE ``id:``); events come in this order.
    seq: int
    kind: EventKind
    #: What it is about: an instance id, an alert's dedup key, a dependency, a task id...
    key: str
    #: The workflow it is about (None: no single workflow, e.g. a circuit breaker).
    workflow: str | None
    payload: dict[str, Any]
    created_at: float


class Streams:
    """The event streams of one API: how many are open, and whether the server is shutting
    down (then every stream ends at its next poll)."""

    def __init__(self) -> None:
        self.closed = False
        self.open = 0


def streams_of(api: FastAPI) -> Streams:
    """The :class:`Streams` of ``api`` (a FastAPI app from ``create_api``)."""
    found = getattr(api.state, "event_streams", None)
    if found is None:
        found = api.state.event_streams = Streams()
    assert isinstance(found, Streams)
    return found


def close_streams(api: Any) -> None:
    """End the event streams of ``api`` (a FastAPI app from ``create_api``): uvicorn waits
    for every open response before it stops, and a stream never ends by itself. (Serving
    ``create_api`` with plain uvicorn: give it ``--timeout-graceful-shutdown``.)"""
    if isinstance(api, FastAPI):
        streams_of(api).closed = True


@dataclass(frozen=True)
class _Stream:
    wanted: EventFilter
    position: int
    follow: bool


def _position(last_event_id: str | None, after: int | None, api: Api) -> int:
    if last_event_id is not None:
        text = last_event_id.strip()
        if not text.isdigit():
            raise InvalidInput(
                f"Last-Event-ID {last_event_id!r} is not the id of an event of this stream "
                "(a whole number); send the id of the last event received, or leave it out"
            )
        return int(text)
    if after is not None:
        return after
    with api.client.store.read() as conn:
        return last_event_seq(conn)


def _stream(
    api: Api,
    caller: viewer,
    kind: Annotated[
        list[str] | None,
        Query(
            description="Only these kinds (repeatable): a kind (`instance.parked`) or a "
            "family by its prefix (`instance.`)."
        ),
    ] = None,
    workflow: Annotated[
        list[str] | None,
        Query(description="Only events about these workflows (repeatable)."),
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, description="Start after this event id (0: every event kept); default: now."),
    ] = None,
    follow: Annotated[
        bool, Query(description="Keep streaming new events (false: end once caught up).")
    ] = True,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this event id (sent by a reconnecting EventSource).",
        ),
    ] = None,
) -> _Stream:
    # A dependency, so that bad input and a refused scope are answered (422, 403) before
    # the stream starts, and the starting position is fixed before the first byte.
    if workflow:
        for name in workflow:
            caller.may_see(name)
        workflows: frozenset[str] | None = frozenset(workflow)
    else:
        scope = caller.token.workflows
        workflows = None if scope is None else frozenset(scope)
    kinds = kinds_named(kind) if kind else None
    return _Stream(EventFilter(kinds, workflows), _position(last_event_id, after, api), follow)


@router.get(
    "",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "Server-sent events: `id:` the outbox position, `event:` the kind, "
            "`data:` a StreamedEvent as JSON; `:` comments keep the connection alive."
        }
    },
)
async def events(
    request: Request, api: Api, stream: Annotated[_Stream, Depends(_stream)]
) -> AsyncIterator[ServerSentEvent]:
    """The outbox as server-sent events, oldest first, filtered by kind and workflow; a
    token limited to some workflows gets only theirs. Reconnect with ``Last-Event-ID`` to
    resume after the last event received."""
    streams = streams_of(request.app)
    workflows = EventWorkflows(api.client)
    position = stream.position
    streams.open += 1
    try:
        yield ServerSentEvent(
            comment=f"daytwo events after {position}", id=str(position), retry=RETRY_MS
        )
        failing = False
        while not streams.closed:
            try:
                poll = await run_in_threadpool(
                    read_after, api.client, position, stream.wanted, workflows
                )
            except (StoreUnavailable, sqlalchemy.exc.DBAPIError) as exc:
                # The database went away for a moment: the stream waits for it (sending
                # keep-alives) rather than ending, like an outbox delivery retries.
                if not failing:
                    log.warning("event stream: reading the outbox failed: %s", one_line(exc))
                failing = True
                await anyio.sleep(POLL)
                continue
            failing = False
            for event, workflow in poll.events:
                data = StreamedEvent(
                    seq=event.seq, kind=event.kind, key=event.key, workflow=workflow,
                    payload=event.payload, created_at=event.created_at,
                )  # fmt: skip
                yield ServerSentEvent(id=str(event.seq), event=event.kind.value, data=data)
            position = poll.position
            if poll.more:
                continue
            if not stream.follow:
                return
            await anyio.sleep(POLL)
    finally:
        streams.open -= 1
