"""``/v1/events``: the outbox as server-sent events on a live server, read with httpx
streaming: new events, resuming with Last-Event-ID, kind and workflow filters, token
scope, keep-alive comments and the end of a stream when the server stops."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from _harness import wait_until
from _live import LiveApi, live
from _shop import quietly
from fastapi import FastAPI

import daytwo
from daytwo.api import Role, create_api
from daytwo.api._event_stream import EventWorkflows, read_after
from daytwo.api._serve import ApiServer
from daytwo.api.routes._events import streams_of
from daytwo.store import EventKind, OutboxEvent

__all__ = ["live"]


def messages(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The SSE messages of a streamed response as they arrive (``comment`` for ``:``)."""
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    message: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if message:
                yield message
            message = {}
            continue
        name, _, value = line.partition(":")
        message[name or "comment"] = value.removeprefix(" ")


def events(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every event a caught-up stream (``follow=false``) sends from the start of the outbox."""
    query = {"after": 0, "follow": "false", **params}
    with http.stream("GET", "/v1/events", params=query) as response:
        found = [m for m in messages(response) if "data" in m]
    return [{**m, "data": json.loads(m["data"])} for m in found]


def bad_ends(app: daytwo.App) -> None:
    """An ``instance.ended_badly`` of ``plain`` (p-bad) and one of ``order`` (o-bad)."""
    quietly(app, "plain", True, id="p-bad")
    quietly(app, "order", {"reject": True}, id="o-bad")


def test_new_events_arrive_and_a_reconnect_resumes_after_the_last_one(live: LiveApi) -> None:
    with live.http(Role.VIEWER) as http:
        with http.stream("GET", "/v1/events") as response:
            stream = messages(response)
            hello = next(stream)
            assert hello["id"] == "0" and hello["retry"] == "3000"
            assert hello["comment"] == "daytwo events after 0"
            bad_ends(live.app)
            first, second = next(stream), next(stream)
        assert first["event"] == second["event"] == "instance.ended_badly"
        data = json.loads(first["data"])
        assert (data["key"], data["workflow"], data["seq"]) == ("p-bad", "plain", int(first["id"]))
        assert data["payload"]["status"] == "FAILED" and data["kind"] == "instance.ended_badly"
        assert int(second["id"]) > int(first["id"])
        headers = {"Last-Event-ID": first["id"]}
        query = {"follow": "false"}
        with http.stream("GET", "/v1/events", params=query, headers=headers) as response:
            resumed = [m for m in messages(response) if "data" in m]
        assert [m["id"] for m in resumed] == [second["id"]]
        assert json.loads(resumed[0]["data"])["key"] == "o-bad"
        # The start position of a stream that got nothing yet: a reconnect misses nothing.
        with http.stream("GET", "/v1/events") as response:
            assert next(messages(response))["id"] == second["id"]


def test_filters_by_kind_family_and_workflow(live: LiveApi) -> None:
    bad_ends(live.app)
    live.app.breakers.configure("payments-api", daytwo.BreakerPolicy())
    live.app.breakers.open("payments-api", reason="vendor maintenance")
    with live.http(Role.VIEWER) as http:
        every = events(http)
        assert [e["event"] for e in every] == [
            "instance.ended_badly", "instance.ended_badly", "circuit.forced_open",
        ]  # fmt: skip
        assert every[2]["data"]["workflow"] is None
        assert [e["data"]["key"] for e in events(http, kind="instance.")] == ["p-bad", "o-bad"]
        assert [e["event"] for e in events(http, kind="circuit")] == ["circuit.forced_open"]
        both = events(http, kind=["instance.ended_badly", "circuit.*"])
        assert len(both) == 3
        assert [e["data"]["key"] for e in events(http, workflow="plain")] == ["p-bad"]
        two = events(http, workflow=["plain", "order"], kind="instance")
        assert [e["data"]["key"] for e in two] == ["p-bad", "o-bad"]
        assert events(http, kind="alert.") == []
        after = events(http, after=every[0]["id"])
        assert [e["id"] for e in after] == [every[1]["id"], every[2]["id"]]
        unknown = http.get("/v1/events", params={"kind": "instance.exploded"})
        assert unknown.status_code == 422
        assert "is no event kind" in unknown.json()["detail"]
        bad_id = http.get("/v1/events", headers={"Last-Event-ID": "yesterday"})
        assert bad_id.status_code == 422 and "Last-Event-ID" in bad_id.json()["detail"]


def test_a_scoped_token_gets_only_its_workflows_events(live: LiveApi) -> None:
    bad_ends(live.app)
    live.app.breakers.configure("payments-api", daytwo.BreakerPolicy())
    live.app.breakers.open("payments-api")
    orders = live.token("orders-only", Role.VIEWER, workflows=["order"])
    with live.http(secret=orders) as http:
        assert [e["data"]["key"] for e in events(http)] == ["o-bad"]  # no plain, no circuit
        refused = http.get("/v1/events", params={"workflow": "plain"})
        assert refused.status_code == 403 and "orders-only" in refused.json()["detail"]
    with live.http(None) as http:
        assert http.get("/v1/events").status_code == 401


def test_a_stream_outlives_a_failed_read(live: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    import daytwo.api.routes._events as routes

    failures = [daytwo.StoreUnavailable("the database restarts")]

    def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return read_after(*args)

    monkeypatch.setattr(routes, "read_after", flaky)
    bad_ends(live.app)
    with live.http(Role.VIEWER) as http:
        assert [e["data"]["key"] for e in events(http)] == ["p-bad", "o-bad"]
    assert failures == []


def test_a_task_event_is_about_its_instance_workflow(live: LiveApi) -> None:
    quietly(live.app, "order", {"task": "approval"}, id="t-1", timeout=0)
    [task] = live.app.tasks.list()
    found = EventWorkflows(live.app.client)
    about = OutboxEvent(1, EventKind.TASK_TIMED_OUT, task.id, {"instance_id": "t-1"}, 0.0)
    gone = OutboxEvent(2, EventKind.TASK_TIMED_OUT, "x", {"instance_id": "purged"}, 0.0)
    assert (found.of(about), found.of(gone)) == ("order", None)


def test_an_idle_stream_sends_keep_alive_comments(
    live: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastapi.routing

    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.05)  # FastAPI's: 15 s
    with live.http(Role.VIEWER) as http, http.stream("GET", "/v1/events") as response:
        stream = messages(response)
        next(stream)
        assert next(stream) == {"comment": "ping"}


@contextmanager
def serving(app: daytwo.App) -> Iterator[tuple[LiveApi, FastAPI, threading.Thread]]:
    """Like ``live_api``, with the API object and the server's thread in hand."""
    app.store  # noqa: B018 -- create the database before the server reads it
    api = create_api(app)
    config = uvicorn.Config(api, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = ApiServer(config)
    thread = threading.Thread(target=server.run, name="test-api-events", daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=20, what="the server to start")
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    live = LiveApi(f"http://{host}:{port}", app)
    live.tokens[str(Role.VIEWER)] = live.token("viewer-token", Role.VIEWER)
    try:
        yield live, api, thread
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.backends("sqlite")
def test_a_stream_ends_when_its_client_goes_away(shop: daytwo.App) -> None:
    with serving(shop) as (live, api, _thread), live.http(Role.VIEWER) as http:
        streams = streams_of(api)
        with http.stream("GET", "/v1/events") as response:
            next(messages(response))
            assert streams.open == 1, streams.open
        wait_until(lambda: streams.open == 0, timeout=10, what="the stream to end")


@pytest.mark.backends("sqlite")
def test_an_open_stream_ends_when_the_server_stops(shop: daytwo.App) -> None:
    with serving(shop) as (live, api, thread):
        http = live.http(Role.VIEWER)
        http.timeout = httpx.Timeout(30, read=10)  # a stream left open fails, not hangs
        response = http.send(http.build_request("GET", "/v1/events"), stream=True)
        stream = messages(response)
        next(stream)
    # The server stopped: the stream ended cleanly instead of keeping shutdown waiting.
    assert not thread.is_alive()
    assert list(stream) == [] and streams_of(api).open == 0
    response.close()
    http.close()
