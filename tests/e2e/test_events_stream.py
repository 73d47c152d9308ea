"""GET /events/stream over a real socket: uvicorn serving the app on a free loopback port, an
httpx client reading Server-Sent Events frames as they are relayed from the outbox."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from ordinaut.api.app import create_app
from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.services.agents import create_agent
from ordinaut.store.engine import Store

WaitFor = Callable[..., Awaitable[None]]
SCOPES = ["tasks:read", "tasks:write", "events:publish", "events:read"]
PIPELINE = {"pipeline": [{"id": "e", "uses": "echo.message", "with": {"message": "hi"}}]}


@dataclass(frozen=True)
class Frame:
    id: str
    event: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Server:
    url: str
    headers: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server(db_url: str, store: Store, wait_for: WaitFor) -> AsyncIterator[Server]:
    settings = Settings(DATABASE_URL=db_url, RATE_LIMIT_PER_SECOND=0, ENVIRONMENT="test")
    async with store.transaction() as conn:
        issued = await create_agent(conn, name="watcher", scopes=SCOPES, clock=SystemClock())
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, store=store), host="127.0.0.1", port=port, log_level="warning"
    )
    served = uvicorn.Server(config)
    running = asyncio.create_task(served.serve())
    await wait_for(lambda: served.started or running.done(), timeout=10)
    assert served.started, "uvicorn did not start"
    yield Server(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {issued.secret}"})
    served.should_exit = True
    await asyncio.wait_for(running, timeout=10)


async def _frames(lines: AsyncIterator[str]) -> AsyncIterator[Frame]:
    """Parse `id:` / `event:` / `data:` frames; comments (`: keepalive`) are skipped."""
    fields: dict[str, str] = {}
    async for line in lines:
        if line == "":
            if "event" in fields:
                yield Frame(fields["id"], fields["event"], json.loads(fields["data"]))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def _first_frame(
    server: Server, params: dict[str, str], act: Callable[[httpx.AsyncClient], Awaitable[None]]
) -> Frame:
    """Connect, wait for the stream to open, `act`, and return the first frame that arrives."""
    async with (
        httpx.AsyncClient(base_url=server.url, headers=server.headers) as client,
        client.stream("GET", "/events/stream", params=params) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        assert await anext(lines) == ": connected"
        await act(client)
        async with asyncio.timeout(10):
            async for frame in _frames(lines):
                return frame
    raise AssertionError("the stream ended without a frame")


def _publish(*topics: str) -> Callable[[httpx.AsyncClient], Awaitable[None]]:
    async def act(client: httpx.AsyncClient) -> None:
        for topic in topics:
            body = {"topic": topic, "payload": {"total": 42, "tags": ["a"]}}
            assert (await client.post("/events", json=body)).status_code == 202

    return act


async def test_a_published_event_arrives_as_a_frame(server: Server) -> None:
    frame = await _first_frame(server, {}, _publish("orders.created"))
    assert frame.event == "event.published"
    assert frame.data["topic"] == "orders.created"
    assert frame.data["payload"] == {"total": 42, "tags": ["a"]}
    assert frame.data["triggered_tasks"] == []
    assert frame.data["event_id"] and frame.data["occurred_at"]
    assert frame.id.count("-") == 1, "the bus id, so a client can tell frames apart"


async def test_the_topic_filter_skips_other_topics(server: Server) -> None:
    frame = await _first_frame(server, {"topic": "wanted"}, _publish("other", "wanted"))
    assert (frame.event, frame.data["topic"]) == ("event.published", "wanted")


async def test_the_type_filter_skips_other_event_types(server: Server) -> None:
    async def act(client: httpx.AsyncClient) -> None:
        await _publish("noise")(client)
        body = {"title": "t", "schedule_kind": "event", "schedule_expr": "x", "payload": PIPELINE}
        assert (await client.post("/tasks", json=body)).status_code == 201

    frame = await _first_frame(server, {"type": "task.created"}, act)
    assert (frame.event, frame.data["title"]) == ("task.created", "t")


async def test_the_stream_needs_a_credential(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/events/stream")
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        wrong = await client.get("/events/stream", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401


async def test_a_reconnecting_client_resumes_after_its_last_event_id(server: Server) -> None:
    first = await _first_frame(server, {"topic": "one"}, _publish("one", "two"))
    resumed = Server(server.url, server.headers | {"Last-Event-ID": first.id})

    async def nothing(client: httpx.AsyncClient) -> None:
        return None

    frame = await _first_frame(resumed, {}, nothing)
    assert (frame.event, frame.data["topic"]) == ("event.published", "two")
