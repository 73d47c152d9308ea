"""Runs over HTTP: the list and its filters, detail, latest, per-task stats and the summary.

The rows are written straight through the store, as the worker writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ordinaut.core.ids import new_id
from ordinaut.services.tasks import occurrence_row
from ordinaut.store.engine import Store
from ordinaut.store.occurrences import due_work_enqueue
from ordinaut.store.runs import Run, task_run_insert_many
from ordinaut.store.tasks import task_get

if TYPE_CHECKING:
    from conftest import Caller, MakeAgent

ECHO = {"pipeline": [{"uses": "echo.message", "with": {"message": "hi"}}]}
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def create_task(client: httpx.AsyncClient, caller: Caller) -> str:
    body = {"title": "t", "schedule_kind": "cron", "schedule_expr": "0 * * * *", "payload": ECHO}
    response = await client.post("/tasks", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


async def record_runs(store: Store, task_id: str, outcomes: list[bool | None]) -> list[Run]:
    """One occurrence per outcome, an hour apart from T0; None is a run still in progress."""
    runs = []
    async with store.transaction() as conn:
        task = await task_get(conn, task_id)
        assert task is not None
        for hour, success in enumerate(outcomes):
            started = T0 + timedelta(hours=hour)
            row = occurrence_row(task, started, started)
            await due_work_enqueue(conn, [row])
            finished = None if success is None else started + timedelta(milliseconds=250)
            runs.append(
                Run(
                    id=new_id(),
                    task_id=task_id,
                    due_work_id=row["id"],
                    attempt=1,
                    worker_id="worker-1",
                    started_at=started,
                    finished_at=finished,
                    duration_ms=None if success is None else 250.0 + hour,
                    success=success,
                    error=None if success is not False else f"boom {hour}",
                    output={"steps": {"say": {"result": {"message": "hi"}}}},
                )
            )
        await task_run_insert_many(conn, runs)
    return runs


async def get(client: httpx.AsyncClient, caller: Caller, url: str) -> Any:
    response = await client.get(url, headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_list_is_newest_first_and_hides_errors_unless_asked(
    client: httpx.AsyncClient, store: Store, alice: Caller
) -> None:
    task_id = await create_task(client, alice)
    runs = await record_runs(store, task_id, [True, False, True])
    page = await get(client, alice, "/runs")
    assert [r["id"] for r in page["items"]] == [r.id for r in reversed(runs)]
    assert page["total"] == 3
    assert page["has_more"] is False
    assert all(r["error"] is None for r in page["items"])
    assert page["items"][0]["output"] == {"steps": {"say": {"result": {"message": "hi"}}}}
    assert page["items"][0]["started_at"] == "2025-06-01T14:00:00Z"
    shown = await get(client, alice, "/runs?include_errors=true&success=false")
    assert [(r["id"], r["error"]) for r in shown["items"]] == [(runs[1].id, "boom 1")]
    succeeded = await get(client, alice, f"/runs?success=true&task_id={task_id}&limit=1")
    assert succeeded["total"] == 2
    assert succeeded["has_more"] is True
    assert [r["id"] for r in succeeded["items"]] == [runs[2].id]


async def test_time_window_filters_on_the_start(
    client: httpx.AsyncClient, store: Store, alice: Caller
) -> None:
    task_id = await create_task(client, alice)
    runs = await record_runs(store, task_id, [True, True, True])
    window = await get(
        client, alice, "/runs?start_time=2025-06-01T13:00:00Z&end_time=2025-06-01T16:00:00%2B02:00"
    )
    # 13:00Z inclusive .. 14:00Z exclusive (16:00+02:00): only the second run
    assert [r["id"] for r in window["items"]] == [runs[1].id]
    for query, loc in [
        ("start_time=yesterday", ["query", "start_time"]),
        ("end_time=2025-06-01T13:00:00", ["query", "end_time"]),  # no offset
        ("success=perhaps", ["query", "success"]),
        ("task_id=42", ["query", "task_id"]),
        ("limit=500", ["query", "limit"]),
    ]:
        response = await client.get(f"/runs?{query}", headers=alice.headers)
        assert response.status_code == 422, query
        assert response.json()["errors"][0]["loc"] == loc, query


async def test_detail_latest_and_another_agents_runs(
    client: httpx.AsyncClient, store: Store, alice: Caller, admin: Caller, make_agent: MakeAgent
) -> None:
    task_id = await create_task(client, alice)
    assert await get(client, alice, f"/runs/task/{task_id}/latest") is None
    runs = await record_runs(store, task_id, [False, None])
    detail = await get(client, alice, f"/runs/{runs[0].id}")
    assert detail["error"] is None
    assert detail["success"] is False
    detail = await get(client, alice, f"/runs/{runs[0].id}?include_errors=true")
    assert detail["error"] == "boom 0"
    latest = await get(client, alice, f"/runs/task/{task_id}/latest")
    assert latest["id"] == runs[1].id
    assert latest["success"] is None
    assert latest["finished_at"] is None

    mallory = await make_agent("mallory", ["runs:read"])
    for url in (
        f"/runs/{runs[0].id}",
        f"/runs/task/{task_id}/latest",
        f"/runs/task/{task_id}/stats",
        f"/runs?task_id={task_id}",
    ):
        response = await client.get(url, headers=mallory.headers)
        assert response.status_code == 404, url
    assert (await get(client, mallory, "/runs"))["total"] == 0
    assert (await get(client, admin, "/runs"))["total"] == 2
    unknown = await client.get(f"/runs/{new_id()}", headers=alice.headers)
    assert unknown.status_code == 404
    assert (await client.get("/runs/nope", headers=alice.headers)).status_code == 422


async def test_stats_for_a_task_and_the_summary(
    client: httpx.AsyncClient, store: Store, alice: Caller, admin: Caller
) -> None:
    recent = datetime.now(UTC) - timedelta(days=1)
    task_id = await create_task(client, alice)
    other = await create_task(client, admin)
    await record_runs(store, task_id, [True, True, False])
    await record_runs(store, other, [True])
    # the fixed T0 rows are old: a 30-day window on a recent clock sees none of them
    stats = await get(client, alice, f"/runs/task/{task_id}/stats")
    assert stats["task_id"] == task_id
    assert stats["days"] == 30
    assert stats["total"] == 0
    days = (datetime.now(UTC) - T0).days + 2
    stats = await get(client, alice, f"/runs/task/{task_id}/stats?days={days}")
    assert (stats["total"], stats["succeeded"], stats["failed"]) == (3, 2, 1)
    assert stats["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert stats["avg_duration_ms"] == pytest.approx(251.0)
    assert stats["max_duration_ms"] == 252.0
    assert stats["last_started_at"] == "2025-06-01T14:00:00Z"
    assert datetime.fromisoformat(stats["since"]) < recent

    mine = await get(client, alice, f"/runs/stats/summary?days={days}")
    assert (mine["total"], mine["task_count"], mine["task_id"]) == (3, 1, None)
    everyone = await get(client, admin, f"/runs/stats/summary?days={days}")
    assert (everyone["total"], everyone["task_count"]) == (4, 2)
    default = await get(client, alice, "/runs/stats/summary")
    assert default["days"] == 7
    for bad in ("0", "3651", "x"):
        response = await client.get(f"/runs/stats/summary?days={bad}", headers=alice.headers)
        assert response.status_code == 422, bad


async def test_runs_need_runs_read(client: httpx.AsyncClient, make_agent: MakeAgent) -> None:
    tasks_only = await make_agent("tasks-only", ["tasks:read", "tasks:write"])
    for url in ("/runs", "/runs/stats/summary", "/work", "/workers"):
        assert (await client.get(url, headers=tasks_only.headers)).status_code == 403, url
        assert (await client.get(url)).status_code == 401, url
