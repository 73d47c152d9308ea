"""Task actions over HTTP (run_now, snooze, pause, resume, cancel) and a task's schedule."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from conftest import Caller

ECHO = {"pipeline": [{"uses": "echo.message", "with": {"message": "hi"}}]}


async def create(client: httpx.AsyncClient, caller: Caller, **overrides: Any) -> dict[str, Any]:
    body = {
        "title": "hourly",
        "schedule_kind": "cron",
        "schedule_expr": "0 * * * *",
        "payload": ECHO,
    } | overrides
    response = await client.post("/tasks", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def act(
    client: httpx.AsyncClient, caller: Caller, task_id: str, action: str, body: Any = None
) -> httpx.Response:
    return await client.post(f"/tasks/{task_id}/{action}", json=body, headers=caller.headers)


async def work_of(client: httpx.AsyncClient, caller: Caller, task_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/work?task_id={task_id}", headers=caller.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_run_now_queues_an_occurrence_each_time(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    first = await act(client, alice, task["id"], "run_now")
    assert first.status_code == 200
    assert first.json()["success"] is True
    second = await act(client, alice, task["id"], "run_now")
    ids = {first.json()["details"]["due_work_id"], second.json()["details"]["due_work_id"]}
    assert len(ids) == 2
    work = await work_of(client, alice, task["id"])
    assert {w["id"] for w in work} == ids
    assert {(w["state"], w["reason"]) for w in work} == {("scheduled", "run_now")}


async def test_run_now_while_paused_runs_but_not_once_canceled(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    await act(client, alice, task["id"], "pause")
    assert (await act(client, alice, task["id"], "run_now")).status_code == 200
    await act(client, alice, task["id"], "cancel")
    refused = await act(client, alice, task["id"], "run_now")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"


async def test_pause_resume_cancel_follow_the_state_rules(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    paused = await act(client, alice, task["id"], "pause")
    assert paused.json() == {
        "success": True,
        "message": "task paused",
        "details": {"status": "paused"},
    }
    assert (await act(client, alice, task["id"], "pause")).status_code == 200  # idempotent
    listed = await client.get("/tasks?status=paused", headers=alice.headers)
    assert listed.json()["total"] == 1
    resumed = await act(client, alice, task["id"], "resume")
    assert resumed.status_code == 200
    assert resumed.json()["details"]["status"] == "active"
    assert resumed.json()["details"]["next_run_at"] is not None

    await act(client, alice, task["id"], "run_now")
    canceled = await act(client, alice, task["id"], "cancel")
    assert canceled.json()["details"] == {"status": "canceled", "canceled_occurrences": 1}
    assert [w["state"] for w in await work_of(client, alice, task["id"])] == ["canceled"]
    for action in ("resume", "pause"):
        refused = await act(client, alice, task["id"], action)
        assert refused.status_code == 409, action
    assert (await act(client, alice, task["id"], "cancel")).status_code == 200
    final = await client.get(f"/tasks/{task['id']}", headers=alice.headers)
    assert final.json()["status"] == "canceled"
    assert final.json()["next_run_at"] is None


async def test_snooze_moves_pending_occurrences(client: httpx.AsyncClient, alice: Caller) -> None:
    task = await create(client, alice)
    queued = await act(client, alice, task["id"], "run_now")
    before = (await work_of(client, alice, task["id"]))[0]
    response = await act(
        client, alice, task["id"], "snooze", {"delay_seconds": 600, "reason": "busy"}
    )
    assert response.status_code == 200
    assert response.json()["details"]["moved"] == 1
    after = (await work_of(client, alice, task["id"]))[0]
    assert after["id"] == queued.json()["details"]["due_work_id"]
    moved = datetime.fromisoformat(after["run_at"]) - datetime.fromisoformat(before["run_at"])
    assert moved == timedelta(seconds=600)


async def test_snooze_with_nothing_pending_queues_the_next_run_late(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    response = await act(client, alice, task["id"], "snooze", {"delay_seconds": 120})
    assert response.json()["details"]["moved"] == 1
    [late] = await work_of(client, alice, task["id"])
    assert datetime.fromisoformat(late["scheduled_for"]) == datetime.fromisoformat(
        task["next_run_at"]
    )
    assert datetime.fromisoformat(late["run_at"]) - datetime.fromisoformat(
        late["scheduled_for"]
    ) == timedelta(seconds=120)
    advanced = await client.get(f"/tasks/{task['id']}", headers=alice.headers)
    assert advanced.json()["next_run_at"] > task["next_run_at"]


async def test_snooze_refuses_bad_bodies_and_final_tasks(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    cases: list[tuple[Any, list[Any]]] = [
        ({"delay_seconds": 0}, ["body", "delay_seconds"]),
        ({"delay_seconds": 604_801}, ["body", "delay_seconds"]),
        ({"delay_seconds": "soon"}, ["body", "delay_seconds"]),
        ({"delay_seconds": 5, "why": "x"}, ["body", "why"]),
        ({}, ["body", "delay_seconds"]),
        (None, ["body"]),
    ]
    for body, loc in cases:
        response = await act(client, alice, task["id"], "snooze", body)
        assert response.status_code == 422, body
        assert loc in [e["loc"] for e in response.json()["errors"]], (body, response.text)
    await act(client, alice, task["id"], "cancel")
    refused = await act(client, alice, task["id"], "snooze", {"delay_seconds": 5})
    assert refused.status_code == 409


async def test_schedule_lists_a_saved_tasks_next_occurrences(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice, schedule_expr="30 8 * * *", timezone="America/New_York")
    response = await client.get(f"/tasks/{task['id']}/schedule?count=3", headers=alice.headers)
    assert response.status_code == 200
    occurrences = response.json()["occurrences"]
    assert len(occurrences) == 3
    first = occurrences[0]
    assert datetime.fromisoformat(first["utc"]) == datetime.fromisoformat(task["next_run_at"])
    assert first["local"][11:19] == "08:30:00"
    assert first["offset"] in ("-05:00", "-04:00")
    default = await client.get(f"/tasks/{task['id']}/schedule", headers=alice.headers)
    assert len(default.json()["occurrences"]) == 10
    for count in ("0", "1001", "many"):
        bad = await client.get(f"/tasks/{task['id']}/schedule?count={count}", headers=alice.headers)
        assert bad.status_code == 422, count
        assert bad.json()["errors"][0]["loc"] == ["query", "count"]


async def test_schedule_is_empty_for_event_tasks_and_finished_ones(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    event = await create(client, alice, schedule_kind="event", schedule_expr="orders.created")
    response = await client.get(f"/tasks/{event['id']}/schedule", headers=alice.headers)
    assert response.json() == {"occurrences": []}
    cron = await create(client, alice)
    await act(client, alice, cron["id"], "cancel")
    response = await client.get(f"/tasks/{cron['id']}/schedule", headers=alice.headers)
    assert response.json() == {"occurrences": []}


async def test_snooze_with_nothing_pending_queues_the_next_occurrence_late(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    before = task["next_run_at"]
    snoozed = await client.post(
        f"/tasks/{task['id']}/snooze", json={"delay_seconds": 900}, headers=alice.headers
    )
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["details"]["moved"] == 1
    work = await client.get("/work", params={"task_id": task["id"]}, headers=alice.headers)
    [row] = work.json()["items"]
    assert row["scheduled_for"] == before
    assert row["run_at"] > before
    assert row["created_at"] < row["run_at"]  # written now, not dated at its delayed run
