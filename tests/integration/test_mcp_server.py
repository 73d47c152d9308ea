"""The built-in MCP server, driven by the official MCP SDK client over real HTTP on loopback:
the whole app served by uvicorn, the agent's credential as the bearer, every storage backend."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from ordinaut.api.app import create_app
from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.services.agents import create_agent
from ordinaut.store.engine import Store

MCP_SCOPE = "ext:mcp_http:routes"
WRITER = ["tasks:read", "tasks:write", "runs:read", "tools:read", MCP_SCOPE]
TASK = {
    "title": "morning briefing",
    "schedule_kind": "cron",
    "schedule_expr": "0 9 * * 1-5",
    "timezone": "Europe/Chisinau",
    "payload": {"pipeline": [{"id": "hi", "uses": "echo.message", "with": {"message": "hi"}}]},
}


@pytest.fixture
async def base_url(db_url: str, store: Store) -> AsyncIterator[str]:
    """The whole app (extensions included) served by uvicorn on a free loopback port."""
    app = create_app(
        Settings(DATABASE_URL=db_url, RATE_LIMIT_PER_SECOND=0, ENVIRONMENT="test"), store=store
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not serving.done(), "the API did not start"
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await serving
    sock.close()


async def secret_for(store: Store, name: str, scopes: Sequence[str]) -> str:
    async with store.transaction() as conn:
        issued = await create_agent(conn, name=name, scopes=scopes, clock=SystemClock())
    return issued.secret


@asynccontextmanager
async def mcp_client(base_url: str, secret: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(20)) as http:
        transport = streamable_http_client(f"{base_url}/ext/mcp_http/mcp", http_client=http)
        async with Client(transport) as client:
            yield client


def data(result: CallToolResult) -> Any:
    assert not result.is_error, _text(result)
    return result.structured_content


def _text(result: CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


async def test_an_assistant_schedules_a_task_and_the_api_sees_it(
    base_url: str, store: Store
) -> None:
    secret = await secret_for(store, "assistant", WRITER)
    async with mcp_client(base_url, secret) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert {"create_task", "preview_schedule", "run_task_now", "snooze_task"} <= listed
        preview = data(
            await client.call_tool(
                "preview_schedule",
                {"schedule_kind": "cron", "schedule_expr": "0 9 * * 1-5",
                 "timezone": "Europe/Chisinau", "count": 3},
            )
        )  # fmt: skip
        assert [o["local"][11:16] for o in preview["occurrences"]] == ["09:00"] * 3
        created = data(await client.call_tool("create_task", {"task": TASK}))
        queued = data(await client.call_tool("run_task_now", {"task_id": created["id"]}))
        assert queued["success"] is True
        later = data(
            await client.call_tool("snooze_task", {"task_id": created["id"], "delay_seconds": 60})
        )
        assert later["details"]["moved"] == 1, "the run-now occurrence moved a minute later"
        upcoming = data(await client.call_tool("task_schedule", {"task_id": created["id"]}))
        assert [o["local"][11:16] for o in upcoming["occurrences"]] == ["09:00"] * 5
        mine = data(await client.call_tool("list_tasks", {}))
    assert [t["id"] for t in mine["items"]] == [created["id"]]
    async with httpx.AsyncClient(base_url=base_url) as http:
        rest = await http.get(
            f"/tasks/{created['id']}", headers={"Authorization": f"Bearer {secret}"}
        )
    assert rest.status_code == 200
    assert (rest.json()["title"], rest.json()["next_run_at"]) == (
        "morning briefing",
        created["next_run_at"],
    )


async def test_bad_input_and_missing_rights_are_tool_errors_the_model_can_read(
    base_url: str, store: Store
) -> None:
    writer = await secret_for(store, "writer", WRITER)
    reader = await secret_for(store, "reader", ["tasks:read", MCP_SCOPE])
    async with mcp_client(base_url, writer) as client:
        bad = await client.call_tool(
            "create_task", {"task": TASK | {"schedule_expr": "61 * * * *"}}
        )
        assert bad.is_error
        assert "61" in _text(bad)
        created = data(await client.call_tool("create_task", {"task": TASK}))
    async with mcp_client(base_url, reader) as client:
        denied = await client.call_tool("create_task", {"task": TASK})
        assert denied.is_error
        assert "forbidden" in _text(denied)
        assert "tasks:write" in _text(denied)
        hidden = await client.call_tool("get_task", {"task_id": created["id"]})
        assert hidden.is_error, "another agent's task is not found"
        assert "not_found" in _text(hidden)


async def test_the_endpoint_needs_a_credential_with_the_extension_scope(
    base_url: str, store: Store
) -> None:
    outsider = await secret_for(store, "outsider", ["tasks:read"])
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "curl", "version": "0"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=base_url) as http:
        anonymous = await http.post("/ext/mcp_http/mcp", json=initialize, headers=headers)
        assert anonymous.status_code == 401
        wrong_scope = await http.post(
            "/ext/mcp_http/mcp",
            content=json.dumps(initialize),
            headers=headers
            | {"Authorization": f"Bearer {outsider}", "Content-Type": "application/json"},
        )
        assert wrong_scope.status_code == 403


async def test_a_plain_json_rpc_call_works_without_a_session(base_url: str, store: Store) -> None:
    """As the API guide shows it with curl: stateless, so no initialize round first."""
    secret = await secret_for(store, "curl", ["tasks:read", MCP_SCOPE])
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "preview_schedule",
            "arguments": {"schedule_kind": "rrule", "timezone": "UTC", "count": 2,
                          "schedule_expr": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"},
        },
    }  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=base_url) as http:
        answered = await http.post("/ext/mcp_http/mcp", json=call, headers=headers)
    assert answered.status_code == 200, answered.text
    result = answered.json()["result"]
    assert result["isError"] is False
    assert [o["local"][11:16] for o in result["structuredContent"]["occurrences"]] == ["09:00"] * 2
