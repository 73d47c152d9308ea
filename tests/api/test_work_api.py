"""The occurrence ledger (GET /work) and the process registry (GET /workers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from ordinaut.core.ids import new_id
from ordinaut.store.engine import Store
from ordinaut.store.workers import WorkerInfo, worker_register

if TYPE_CHECKING:
    from conftest import Caller, MakeAgent

ECHO = {"pipeline": [{"uses": "echo.message", "with": {"message": "hi"}}]}


async def create_task(client: httpx.AsyncClient, caller: Caller) -> str:
    body = {"title": "t", "schedule_kind": "cron", "schedule_expr": "0 * * * *", "payload": ECHO}
    response = await client.post("/tasks", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


async def get(client: httpx.AsyncClient, caller: Caller, url: str) -> Any:
    response = await client.get(url, headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_ledger_lists_states_and_reasons(
    client: httpx.AsyncClient, alice: Caller, admin: Caller, make_agent: MakeAgent
) -> None:
    task_id = await create_task(client, alice)
    other = await create_task(client, alice)
    for tid in (task_id, task_id, other):
        await client.post(f"/tasks/{tid}/run_now", headers=alice.headers)
    await client.post(f"/tasks/{other}/cancel", headers=alice.headers)

    page = await get(client, alice, "/work")
    assert page["total"] == 3
    scheduled = await get(client, alice, "/work?state=scheduled")
    assert {w["task_id"] for w in scheduled["items"]} == {task_id}
    assert all(w["reason"] == "run_now" for w in scheduled["items"])
    canceled = await get(client, alice, f"/work?task_id={other}")
    [entry] = canceled["items"]
    assert (entry["state"], entry["reason"]) == ("canceled", "task canceled")
    assert entry["finished_at"] is not None
    one = await get(client, alice, f"/work/{entry['id']}")
    assert one == entry

    first_page = await get(client, alice, "/work?limit=1")
    assert first_page["has_more"] is True
    mallory = await make_agent("mallory", ["runs:read"])
    assert (await get(client, mallory, "/work"))["total"] == 0
    assert (
        await client.get(f"/work?task_id={task_id}", headers=mallory.headers)
    ).status_code == 404
    assert (await client.get(f"/work/{entry['id']}", headers=mallory.headers)).status_code == 404
    assert (await get(client, admin, "/work"))["total"] == 3
    for query in ("state=sleeping", "task_id=x", "limit=0", "offset=-2"):
        assert (await client.get(f"/work?{query}", headers=alice.headers)).status_code == 422


async def test_workers_lists_registered_processes(
    client: httpx.AsyncClient, store: Store, alice: Caller
) -> None:
    assert await get(client, alice, "/workers") == []
    seen = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    entry = WorkerInfo(
        id=f"host-1:{new_id()[:8]}",
        kind="worker",
        hostname="host-1",
        pid=4242,
        version="0.1.0",
        started_at=seen,
        last_seen_at=seen,
        running=2,
        processed=17,
        info={"concurrency": 8},
    )
    async with store.transaction() as conn:
        await worker_register(conn, entry)
    [listed] = await get(client, alice, "/workers")
    assert listed["id"] == entry.id
    assert (listed["kind"], listed["running"], listed["processed"]) == ("worker", 2, 17)
    assert listed["last_seen_at"] == "2025-06-01T12:00:00Z"
    assert listed["info"] == {"concurrency": 8}
