"""The events demo extension: notes published over HTTP come back through a consumer group,
in-process and on Redis, where two API processes share the group and each note is consumed
once in all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from ordinaut.core.settings import Settings

STREAM = "ext:events_demo:demo:notes"
WaitFor = Callable[..., Awaitable[None]]
Caller = Any


async def consumed(client: httpx.AsyncClient, caller: Caller) -> dict[str, Any]:
    response = await client.get("/ext/events_demo/notes", headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_published_notes_are_consumed_in_order(
    client: httpx.AsyncClient, admin: Caller, make_agent: Any, wait_for: WaitFor
) -> None:
    for text in ("one", "two", "three"):
        sent = await client.post(
            "/ext/events_demo/notes", json={"text": text}, headers=admin.headers
        )
        assert sent.status_code == 202, sent.text

    async def all_three() -> bool:
        return (await consumed(client, admin))["consumed"] == 3

    await wait_for(all_three, timeout=10)
    last = (await consumed(client, admin))["last"]
    assert [(n["type"], n["text"]) for n in last] == [
        ("note.added", "one"), ("note.added", "two"), ("note.added", "three"),
    ]  # fmt: skip
    empty = await client.post("/ext/events_demo/notes", json={"text": ""}, headers=admin.headers)
    assert empty.status_code == 422
    assert ["body", "text"] in [e["loc"] for e in empty.json()["errors"]]
    stranger = await make_agent("stranger", ["tasks:read"])
    assert (await client.get("/ext/events_demo/notes", headers=stranger.headers)).status_code == 403


@pytest.mark.redis
async def test_two_processes_share_the_consumer_group_on_redis(
    db_url: str, another_process: Any, redis_url: str, admin: Caller, wait_for: WaitFor
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    await redis.delete(STREAM)
    settings = Settings(
        DATABASE_URL=db_url, REDIS_URL=redis_url, RATE_LIMIT_PER_SECOND=0, ENVIRONMENT="test"
    )
    try:
        async with another_process(settings) as first, another_process(settings) as second:
            await consumed(second, admin)  # loads the extension there too: two consumers
            for n in range(20):
                note = {"text": f"note {n}"}
                sent = await first.post("/ext/events_demo/notes", json=note, headers=admin.headers)
                assert sent.status_code == 202

            async def totals() -> list[dict[str, Any]]:
                return [await consumed(api, admin) for api in (first, second)]

            async def all_twenty() -> bool:
                return sum(t["consumed"] for t in await totals()) >= 20

            await wait_for(all_twenty, timeout=15)
            seen = [n["text"] for t in await totals() for n in t["last"]]
            assert sum(t["consumed"] for t in await totals()) == 20, "each note once in all"
            assert len(seen) == len(set(seen))
    finally:
        await redis.delete(STREAM)
        await redis.aclose()
