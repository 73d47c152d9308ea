"""POST /pipelines/validate: the same checks as task creation, without saving anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from conftest import Caller, MakeAgent


async def validate(client: httpx.AsyncClient, caller: Caller, payload: Any) -> httpx.Response:
    return await client.post(
        "/pipelines/validate", json={"payload": payload}, headers=caller.headers
    )


async def test_a_valid_pipeline(client: httpx.AsyncClient, alice: Caller) -> None:
    payload = {
        "params": {"who": "ops"},
        "pipeline": [
            {
                "id": "hello",
                "uses": "echo.message",
                "with": {"message": "${params.who}"},
                "save_as": "greeting",
            },
            {
                "uses": "debug.log",
                "with": {"message": "${steps.greeting.message}"},
                "if": "params.who",
            },
        ],
    }
    response = await validate(client, alice, payload)
    assert response.status_code == 200
    assert response.json() == {"valid": True}


async def test_every_problem_is_named(client: httpx.AsyncClient, alice: Caller) -> None:
    payload = {
        "pipeline": [
            {"uses": "echo.mesage", "with": {"message": 1}},
            {"uses": "time.sleep", "with": {"seconds": -1}, "on_error": "explode"},
            {"uses": "echo.message", "with": {"message": "${steps.later.x}"}},
        ],
        "extra": True,
    }
    response = await validate(client, alice, payload)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    locs = [e["loc"] for e in errors]
    assert ["body", "payload", "pipeline", 0, "uses"] in locs
    assert "echo.message" in next(e["msg"] for e in errors if e["loc"][-1] == "uses")
    assert ["body", "payload", "pipeline", 1, "on_error"] in locs
    assert any(loc[:5] == ["body", "payload", "pipeline", 1, "with"] for loc in locs)
    assert any(loc[:4] == ["body", "payload", "pipeline", 2] for loc in locs)
    assert ["body", "payload", "extra"] in locs


async def test_odd_payloads_are_422(client: httpx.AsyncClient, alice: Caller) -> None:
    for payload in (None, [], "pipeline", {"pipeline": "x"}, {"params": {"k": "\u0000"}}):
        response = await validate(client, alice, payload)
        assert response.status_code == 422, payload
    missing = await client.post("/pipelines/validate", json={}, headers=alice.headers)
    assert missing.json()["errors"][0]["loc"] == ["body", "payload"]


async def test_tools_are_checked_against_the_callers_scopes(
    client: httpx.AsyncClient, make_agent: MakeAgent
) -> None:
    publish = {"pipeline": [{"uses": "events.publish", "with": {"topic": "a.b"}}]}
    bob = await make_agent("bob", ["tasks:read"])
    refused = await validate(client, bob, publish)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "payload", "pipeline", 0, "uses"]
    publisher = await make_agent("pub", ["tasks:read", "events:publish"])
    assert (await validate(client, publisher, publish)).status_code == 200
