"""The outbox across a Redis outage: the API keeps working, and once Redis is back every event
reaches the stream exactly once, in outbox order (so in order per task).

The test runs its own redis-server (no persistence) on a free port, so it can kill and restart
it without disturbing anyone. A restarted server starts empty: what was relayed before the kill
is read from the stream before killing, what was written during the outage after the restart.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from redis.exceptions import ResponseError

from ordinaut.api.app import create_app
from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.events import RedisStreamsBus
from ordinaut.events.bus import ENTRY_FIELD
from ordinaut.services.agents import ALL_SCOPES, create_agent
from ordinaut.services.relay import OutboxRelay
from ordinaut.store.engine import Store
from ordinaut.store.outbox import CORE_STREAM, outbox_insert_many
from ordinaut.store.schema import outbox

pytestmark = pytest.mark.redis
WaitFor = Callable[..., Awaitable[None]]
PIPELINE = {"pipeline": [{"id": "e", "uses": "echo.message", "with": {"message": "hi"}}]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A throwaway redis-server on one port: `start()` again after `kill()` reuses the port."""

    port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))

    def kill(self) -> None:
        self.processes[-1].kill()
        self.processes[-1].wait(timeout=10)

    def signal(self, number: int) -> None:
        self.processes[-1].send_signal(number)

    async def ready(self) -> bool:
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            return bool(await client.ping())
        except (aioredis.ConnectionError, OSError):
            return False
        finally:
            await client.aclose()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(_free_port())
    yield server
    for process in server.processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
async def api(
    db_url: str, store: Store, redis_server: RedisServer, wait_for: WaitFor
) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app (relay included) on the test's own Redis, with an all-scopes caller."""
    redis_server.start()
    await wait_for(redis_server.ready, timeout=10)
    settings = Settings(
        DATABASE_URL=db_url, REDIS_URL=redis_server.url, RATE_LIMIT_PER_SECOND=0, ENVIRONMENT="test"
    )
    async with store.transaction() as conn:
        issued = await create_agent(conn, name="relay", scopes=ALL_SCOPES, clock=SystemClock())
    app = create_app(settings, store=store)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ordinaut.test", headers=headers
        ) as client:
            yield client


async def _call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
    response = await client.request(method, url, **kwargs)
    assert response.is_success, f"{method} {url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


async def _changes(client: httpx.AsyncClient, round_: str) -> list[str]:
    """Create two tasks and put them through every action; returns the task ids."""
    ids = []
    for n in range(2):
        body = {
            "title": f"{round_}-{n}",
            "schedule_kind": "cron",
            "schedule_expr": "0 3 * * *",
            "payload": PIPELINE,
        }
        ids.append((await _call(client, "POST", "/tasks", json=body))["id"])
    for task_id in ids:
        await _call(client, "POST", f"/tasks/{task_id}/pause")
        await _call(client, "PUT", f"/tasks/{task_id}", json={"title": f"{round_} renamed"})
        await _call(client, "POST", f"/tasks/{task_id}/resume")
        await _call(client, "POST", f"/tasks/{task_id}/run_now")
    await _call(client, "POST", "/events", json={"topic": f"{round_}.done", "payload": {"n": 1}})
    await _call(client, "POST", f"/tasks/{ids[0]}/cancel")
    await _call(client, "DELETE", f"/tasks/{ids[1]}")
    return ids


async def _outbox(store: Store) -> list[dict[str, Any]]:
    async with store.connect() as conn:
        rows = await conn.execute(sa.select(outbox).order_by(outbox.c.id))
        return [dict(r) for r in rows.mappings()]


async def _unrelayed(store: Store) -> int:
    return sum(1 for row in await _outbox(store) if row["relayed_at"] is None)


async def _unrelayed_is(store: Store, count: int) -> bool:
    return await _unrelayed(store) == count


def _expected(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What the relay must have put on the stream for one outbox row."""
    return row["event_type"], row["payload"] | {"occurred_at": row["created_at"].isoformat()}


async def _stream(url: str) -> list[tuple[str, dict[str, Any]]]:
    """Every entry of the core stream, oldest first, as (type, data)."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        entries = await client.xrange(CORE_STREAM)
    finally:
        await client.aclose()
    bodies = [json.loads(fields[ENTRY_FIELD]) for _, fields in entries]
    return [(body["type"], body["data"]) for body in bodies]


async def test_nothing_is_lost_or_reordered_across_a_redis_outage(
    api: httpx.AsyncClient, store: Store, redis_server: RedisServer, wait_for: WaitFor
) -> None:
    await _changes(api, "before")
    await wait_for(lambda: _unrelayed_is(store, 0), timeout=15)
    before = await _stream(redis_server.url)
    assert len(before) == len(await _outbox(store)) > 10

    redis_server.kill()
    down_ids = await _changes(api, "during")  # every call above asserted a 2xx
    assert await _unrelayed(store) > 10, "nothing can be relayed while Redis is down"

    redis_server.start()
    await wait_for(redis_server.ready, timeout=10)
    await _call(api, "POST", "/events", json={"topic": "after.restart", "payload": {}})
    await wait_for(lambda: _unrelayed_is(store, 0), timeout=20)
    after = await _stream(redis_server.url)

    rows = await _outbox(store)
    assert before + after == [_expected(row) for row in rows]
    for task_id in down_ids:  # the same, spelled out per task
        mine = [kind for kind, data in after if data.get("task_id") == task_id]
        assert mine[:4] == ["task.created", "task.paused", "task.updated", "task.resumed"]
        assert mine[4] == "occurrence.enqueued"


async def test_a_hanging_redis_does_not_stall_the_api(
    api: httpx.AsyncClient, store: Store, redis_server: RedisServer, wait_for: WaitFor
) -> None:
    """A frozen Redis (SIGSTOP: connections open, no replies) holds up the relay, never the API:
    each publish waits out its command timeout (seconds) outside any database lock."""
    await _call(api, "POST", "/events", json={"topic": "warm.up", "payload": {}})
    await wait_for(lambda: _unrelayed_is(store, 0), timeout=15)
    redis_server.signal(signal.SIGSTOP)
    try:
        for n in range(3):
            started = time.monotonic()
            await _call(api, "POST", "/events", json={"topic": "frozen", "payload": {"n": n}})
            assert time.monotonic() - started < 2.0, "an API write waited on the bus"
    finally:
        redis_server.signal(signal.SIGCONT)
    await _call(api, "POST", "/events", json={"topic": "thawed", "payload": {}})
    await wait_for(lambda: _unrelayed_is(store, 0), timeout=20)
    published = [data["topic"] for kind, data in await _stream(redis_server.url)]
    assert published == ["warm.up", "frozen", "frozen", "frozen", "thawed"]


async def test_a_failed_publish_keeps_what_the_bus_already_took(
    store: Store, redis_url: str
) -> None:
    """A batch that fails half way marks the rows published before the failure, so they are not
    sent twice. A stream key holding a plain string makes XADD fail for real (WRONGTYPE)."""
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    good, poisoned = prefix + "good", prefix + "poisoned"
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    bus = RedisStreamsBus(redis_url)
    clock = SystemClock()
    try:
        await client.set(poisoned, "not a stream")
        async with store.transaction() as conn:
            for n, stream in enumerate([good, good, poisoned, good]):
                await outbox_insert_many(conn, [("t", None, {"n": n})], clock.now(), stream=stream)
        relay = OutboxRelay(store, bus, clock)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await relay.relay_once()
        assert await _unrelayed(store) == 2, "the rows published before the failure are marked"
        await client.delete(poisoned)
        assert await relay.relay_once() == 2
        entries = await client.xrange(good)
        assert [json.loads(f[ENTRY_FIELD])["data"]["n"] for _, f in entries] == [0, 1, 3]
    finally:
        await client.delete(good, poisoned)
        await client.aclose()
        await bus.close()
