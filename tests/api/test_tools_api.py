"""GET /tools and /tools/{name}: the tools a caller may use, with their schemas."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import jsonschema

if TYPE_CHECKING:
    from conftest import Caller, MakeAgent


async def test_lists_usable_tools_with_schemas(
    client: httpx.AsyncClient, alice: Caller, make_agent: MakeAgent
) -> None:
    response = await client.get("/tools", headers=alice.headers)
    assert response.status_code == 200
    tools = {t["name"]: t for t in response.json()}
    assert {"echo.message", "time.sleep", "debug.log", "events.publish"} <= set(tools)
    echo = tools["echo.message"]
    jsonschema.validate({"message": [1, "two"]}, echo["input_schema"])
    jsonschema.validate({"message": {"kept": True}}, echo["output_schema"])
    assert echo["transport"] == "builtin"
    assert echo["scopes"] == []
    assert tools["events.publish"]["scopes"] == ["events:publish"]

    reader = await make_agent("reader", ["tools:read"])
    theirs = await client.get("/tools", headers=reader.headers)
    assert "events.publish" not in {t["name"] for t in theirs.json()}


async def test_one_tool_and_unknown_ones(
    client: httpx.AsyncClient, alice: Caller, make_agent: MakeAgent
) -> None:
    response = await client.get("/tools/time.sleep", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["input_schema"]["properties"]["seconds"]["minimum"] == 0
    unknown = await client.get("/tools/echo.mesage", headers=alice.headers)
    assert unknown.status_code == 404
    assert "echo.message" in unknown.json()["detail"]  # a close name is suggested
    reader = await make_agent("reader", ["tools:read"])
    hidden = await client.get("/tools/events.publish", headers=reader.headers)
    assert hidden.status_code == 404


async def test_tools_need_tools_read(client: httpx.AsyncClient, make_agent: MakeAgent) -> None:
    writer = await make_agent("writer", ["tasks:write"])
    assert (await client.get("/tools", headers=writer.headers)).status_code == 403
    assert (await client.get("/tools/echo.message", headers=writer.headers)).status_code == 403
