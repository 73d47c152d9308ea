"""MCP tools against real MCP servers (official SDK, Streamable HTTP on 127.0.0.1).

Includes the flagship example: a weekday morning briefing that reads a calendar, the weather
and a mailbox, summarises them and sends the summary through a messenger.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from ordinaut.core.clock import FrozenClock
from ordinaut.core.errors import InvalidInput
from ordinaut.core.settings import Settings
from ordinaut.pipeline import RunContext, build_registry, run_pipeline, validate_payload

MONDAY_7AM = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
CONTEXT = RunContext(
    {"id": "task-brief", "title": "Morning briefing"},
    {"id": "run-1"},
    None,
    frozenset({"tasks:write"}),
)
MAIL_TOKEN = "mail-secret"


class Event(BaseModel):
    title: str
    start: str


class Events(BaseModel):
    events: list[Event]


class Forecast(BaseModel):
    city: str
    summary: str
    high_c: float


class Mail(BaseModel):
    sender: str
    subject: str


class Inbox(BaseModel):
    messages: list[Mail]


class Summary(BaseModel):
    text: str


class Sent(BaseModel):
    delivered: bool
    to: str


@dataclass
class Calls:
    """What the test servers received (they run in threads of this process)."""

    calendar: list[dict[str, Any]] = field(default_factory=list)
    messenger: list[dict[str, Any]] = field(default_factory=list)
    flaky: int = 0


def _servers(calls: Calls) -> dict[str, MCPServer]:
    calendar = MCPServer("calendar", log_level="WARNING")

    @calendar.tool()
    def list_events(start: str, end: str) -> Events:
        """Events between two instants."""
        calls.calendar.append({"start": start, "end": end})
        return Events(events=[Event(title=t, start=start) for t in ("Standup", "1:1", "Review")])

    weather = MCPServer("weather", log_level="WARNING")

    @weather.tool()
    def forecast(city: str) -> Forecast:
        """Today's forecast."""
        return Forecast(city=city, summary="sunny", high_c=19.5)

    mailbox = MCPServer("mailbox", log_level="WARNING")

    @mailbox.tool()
    def unread(limit: int = 10) -> Inbox:
        """Unread mail, newest first."""
        mails = [
            Mail(sender="ana@example.com", subject="Budget"),
            Mail(sender="bo@example.com", subject="Lunch?"),
        ]
        return Inbox(messages=mails[:limit])

    summariser = MCPServer("summariser", log_level="WARNING")

    @summariser.tool()
    def summarize(
        events: list[dict[str, Any]], forecast: dict[str, Any], emails: list[dict[str, Any]]
    ) -> Summary:
        """A one-paragraph summary."""
        return Summary(
            text=f"{len(events)} meetings, {forecast['summary']} {forecast['high_c']:g}°C, "
            f"{len(emails)} unread (first: {emails[0]['subject']})."
        )

    messenger = MCPServer("messenger", log_level="WARNING")

    @messenger.tool()
    def send(to: str, text: str) -> Sent:
        """Send a chat message."""
        calls.messenger.append({"to": to, "text": text})
        return Sent(delivered=True, to=to)

    misc = MCPServer("misc", log_level="WARNING")

    @misc.tool()
    def fail(reason: str) -> str:
        """Always reports an error."""
        raise McpToolError(f"cannot: {reason}")

    @misc.tool()
    def flaky() -> str:
        """Fails twice, then works."""
        calls.flaky += 1
        if calls.flaky < 3:
            raise McpToolError("try again")
        return "ok"

    @misc.tool()
    async def slow(seconds: float) -> str:
        """Sleeps."""
        await asyncio.sleep(seconds)
        return "done"

    @misc.tool()
    def untyped(n: int) -> dict:  # type: ignore[type-arg]
        """Returns JSON text without a schema."""
        return {"n": n, "double": n * 2}

    return {
        "calendar": calendar,
        "weather": weather,
        "mailbox": mailbox,
        "summariser": summariser,
        "messenger": messenger,
        "misc": misc,
    }


def _require_bearer(app: ASGIApp, token: str) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and (b"authorization", f"Bearer {token}".encode()) not in scope["headers"]
        ):
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def _bound_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def _serve(stack: ExitStack, app: ASGIApp, sock: socket.socket | None = None) -> str:
    sock = sock or _bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=0.2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "MCP test server did not start"
        assert thread.is_alive(), "MCP test server thread died"
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    stack.callback(stop)
    return f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"


@dataclass
class Fixture:
    calls: Calls
    catalog: Path
    late_socket: socket.socket
    stack: ExitStack


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    calls = Calls()
    with ExitStack() as stack:
        urls = {}
        for name, server in _servers(calls).items():
            app: ASGIApp = server.streamable_http_app()
            if name == "mailbox":
                app = _require_bearer(app, MAIL_TOKEN)
            urls[name] = _serve(stack, app)
        late = _bound_socket()  # bound but not listening: connections are refused until served
        stack.callback(late.close)
        catalog = tmp_path_factory.mktemp("catalog") / "tools.json"
        servers = [{"name": n, "url": u, "timeout": 5} for n, u in urls.items() if n != "mailbox"]
        servers.append(
            {
                "name": "mailbox",
                "url": urls["mailbox"],
                "headers": {"Authorization": "Bearer ${env:MAIL_TOKEN}"},
            }
        )
        servers.append(
            {
                "name": "late",
                "url": f"http://127.0.0.1:{late.getsockname()[1]}/mcp",
                "timeout_seconds": 2,
            }
        )
        catalog.write_text(json.dumps({"mcp_servers": servers}))
        yield Fixture(calls, catalog, late, stack)


@pytest.fixture
def settings(mcp: Fixture, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MAIL_TOKEN", MAIL_TOKEN)
    return Settings(TOOLS_CATALOG=str(mcp.catalog))


BRIEFING: dict[str, Any] = {
    "params": {"city": "Lisbon", "chat": "@me"},
    "pipeline": [
        {
            "id": "calendar",
            "uses": "calendar.list_events",
            "with": {"start": "${now}", "end": "${now+24h}"},
            "save_as": "cal",
        },
        {
            "id": "weather",
            "uses": "weather.forecast",
            "with": {"city": "${params.city}"},
            "save_as": "weather",
        },
        {
            "id": "mail",
            "uses": "mailbox.unread",
            "with": {"limit": 5},
            "save_as": "mail",
            "retry": {"max_attempts": 2, "backoff_seconds": 0.1},
        },
        {
            "id": "summary",
            "uses": "summariser.summarize",
            "save_as": "summary",
            "with": {
                "events": "${steps.cal.events}",
                "forecast": "${steps.weather}",
                "emails": "${steps.mail.messages}",
            },
        },
        {
            "id": "notify",
            "uses": "messenger.send",
            "if": "length(steps.cal.events) > `0`",
            "with": {"to": "${params.chat}", "text": "${steps.summary.text}"},
        },
    ],
}


async def test_flagship_weekday_briefing_runs_end_to_end(mcp: Fixture, settings: Settings) -> None:
    registry = await build_registry(settings)
    validate_payload(BRIEFING, registry, CONTEXT.owner_scopes)
    result = await run_pipeline(BRIEFING, CONTEXT, registry, FrozenClock(MONDAY_7AM))
    assert result.success, result.error
    assert [step["status"] for step in result.output["steps"]] == ["ok"] * 5
    assert mcp.calls.calendar[-1] == {
        "start": "2026-03-02T07:00:00Z",
        "end": "2026-03-03T07:00:00Z",
    }
    expected = "3 meetings, sunny 19.5°C, 2 unread (first: Budget)."
    assert mcp.calls.messenger[-1] == {"to": "@me", "text": expected}
    assert result.output["steps"][4]["output"] == {"delivered": True, "to": "@me"}


async def test_tools_are_discovered_with_schemas(settings: Settings) -> None:
    registry = await build_registry(settings)
    tool = registry.get("calendar.list_events")
    assert tool.transport == "mcp"
    assert tool.description == "Events between two instants."
    assert tool.input_schema["required"] == ["start", "end"]
    assert "events" in tool.output_schema["properties"]


async def test_literal_arguments_are_checked_against_discovered_schemas(settings: Settings) -> None:
    registry = await build_registry(settings)
    with pytest.raises(InvalidInput) as caught:
        validate_payload(
            {
                "pipeline": [
                    {"uses": "calendar.list_events", "with": {"start": 5}},
                    {"uses": "calendar.list_event", "with": {}},
                ]
            },
            registry,
            CONTEXT.owner_scopes,
        )
    problems = {error.loc: error.msg for error in caught.value.errors}
    assert "'end' is a required property" in problems[("body", "payload", "pipeline", 0, "with")]
    assert (
        "is not of type 'string'" in problems[("body", "payload", "pipeline", 0, "with", "start")]
    )
    assert (
        "did you mean calendar.list_events" in problems[("body", "payload", "pipeline", 1, "uses")]
    )


async def test_rendered_input_violating_the_schema_fails_before_the_call(
    mcp: Fixture, settings: Settings
) -> None:
    registry = await build_registry(settings)
    before = len(mcp.calls.calendar)
    result = await run_pipeline(
        {
            "params": {"n": 7},
            "pipeline": [
                {"uses": "calendar.list_events", "with": {"start": "${params.n}", "end": "x"}}
            ],
        },
        CONTEXT,
        registry,
        FrozenClock(MONDAY_7AM),
    )
    assert not result.success
    assert not result.retryable
    assert "at start: 7 is not of type 'string'" in (result.error or "")
    assert len(mcp.calls.calendar) == before


async def test_tool_errors_are_retryable_step_errors(mcp: Fixture, settings: Settings) -> None:
    registry = await build_registry(settings)
    clock = FrozenClock(MONDAY_7AM)
    failed = await run_pipeline(
        {"pipeline": [{"uses": "misc.fail", "with": {"reason": "no"}}]}, CONTEXT, registry, clock
    )
    assert not failed.success
    assert failed.retryable
    assert "reported an error" in (failed.error or "")
    assert "cannot: no" in (failed.error or "")
    mcp.calls.flaky = 0
    recovered = await run_pipeline(
        {"pipeline": [{"uses": "misc.flaky", "retry": {"max_attempts": 3, "backoff_seconds": 0}}]},
        CONTEXT,
        registry,
        clock,
    )
    assert recovered.success
    assert recovered.output["steps"][0]["attempts"] == 3
    assert recovered.output["steps"][0]["output"] == {"result": "ok"}


async def test_timeout_cancels_the_call(settings: Settings) -> None:
    registry = await build_registry(settings)
    began = time.monotonic()
    result = await run_pipeline(
        {"pipeline": [{"uses": "misc.slow", "with": {"seconds": 3}, "timeout_seconds": 0.3}]},
        CONTEXT,
        registry,
        FrozenClock(MONDAY_7AM),
    )
    assert not result.success
    assert result.retryable
    assert "timed out after 0.3s" in (result.error or "")
    assert time.monotonic() - began < 2.5


async def test_unstructured_json_text_becomes_the_output(settings: Settings) -> None:
    registry = await build_registry(settings)
    result = await run_pipeline(
        {"pipeline": [{"uses": "misc.untyped", "with": {"n": 4}}]},
        CONTEXT,
        registry,
        FrozenClock(MONDAY_7AM),
    )
    assert result.success
    assert result.output["steps"][0]["output"] == {"n": 4, "double": 8}


async def test_missing_catalog_header_secret_blocks_nothing_but_the_server(
    mcp: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_TOKEN", "wrong")
    registry = await build_registry(Settings(TOOLS_CATALOG=str(mcp.catalog)))
    assert "mailbox" in registry.pending_namespaces()
    assert registry.find("calendar.list_events") is not None


async def test_unreachable_server_is_discovered_later(mcp: Fixture, settings: Settings) -> None:
    registry = await build_registry(settings)
    assert registry.find("late.ping") is None
    with pytest.raises(InvalidInput, match="'late' has not been reached yet"):
        validate_payload({"pipeline": [{"uses": "late.ping"}]}, registry, CONTEXT.owner_scopes)
    clock = FrozenClock(MONDAY_7AM)
    await registry.refresh(clock.now())  # still down: tried, and not again for a while
    late = MCPServer("late", log_level="WARNING")

    @late.tool()
    def ping() -> str:
        """Answers pong."""
        return "pong"

    _serve(mcp.stack, late.streamable_http_app(), mcp.late_socket)
    await registry.refresh(clock.advance(timedelta(seconds=5)))
    assert registry.pending_namespaces() == ["late"]
    clock.advance(timedelta(seconds=60))
    result = await run_pipeline({"pipeline": [{"uses": "late.ping"}]}, CONTEXT, registry, clock)
    assert result.success
    assert result.output["steps"][0]["output"] == {"result": "pong"}
    assert registry.pending_namespaces() == []
