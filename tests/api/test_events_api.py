"""POST /events and friends: stored events trigger event and condition tasks atomically."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

Caller = Any
PIPELINE = {
    "pipeline": [
        {
            "id": "e",
            "uses": "echo.message",
            "with": {"message": "${event.payload}"},
            "save_as": "echo",
        }
    ]
}


async def _task(client: httpx.AsyncClient, caller: Caller, **fields: Any) -> dict[str, Any]:
    body = {"title": "listener", "payload": PIPELINE} | fields
    response = await client.post("/tasks", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _work(client: httpx.AsyncClient, caller: Caller, task_id: str) -> list[dict[str, Any]]:
    response = await client.get("/work", params={"task_id": task_id}, headers=caller.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_unknown_topic_is_accepted_and_triggers_nothing(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    response = await client.post(
        "/events", json={"topic": "nobody.listens", "payload": {}}, headers=alice.headers
    )
    assert response.status_code == 202
    body = response.json()
    assert body["triggered_tasks"] == []
    assert body["topic"] == "nobody.listens"
    assert body["event_id"]


async def test_event_task_gets_one_occurrence_per_event(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    listener = await _task(client, alice, schedule_kind="event", schedule_expr="orders.created")
    other = await _task(client, alice, schedule_kind="event", schedule_expr="orders.deleted")
    response = await client.post(
        "/events",
        json={"topic": "orders.created", "payload": {"total": 120}},
        headers=alice.headers,
    )
    assert response.json()["triggered_tasks"] == [listener["id"]]
    work = await _work(client, alice, listener["id"])
    assert len(work) == 1
    assert work[0]["state"] == "scheduled"
    assert await _work(client, alice, other["id"]) == []


@pytest.mark.parametrize(
    ("expression", "payload", "fires"),
    [
        pytest.param(
            "topic == 'orders.created' && payload.total > `100`", {"total": 120}, True, id="true"
        ),
        pytest.param(
            "topic == 'orders.created' && payload.total > `100`", {"total": 80}, False, id="false"
        ),
        pytest.param("payload.items", {"items": []}, False, id="empty_list_is_false"),
        pytest.param("payload.count", {"count": 0}, True, id="zero_is_true_in_jmespath"),
        pytest.param("payload.missing.deep", {}, False, id="missing_is_null"),
    ],
)
async def test_condition_task_fires_when_its_test_holds(
    client: httpx.AsyncClient,
    alice: Caller,
    expression: str,
    payload: dict[str, Any],
    fires: bool,
) -> None:
    watcher = await _task(client, alice, schedule_kind="condition", schedule_expr=expression)
    response = await client.post(
        "/events", json={"topic": "orders.created", "payload": payload}, headers=alice.headers
    )
    assert (watcher["id"] in response.json()["triggered_tasks"]) is fires


async def test_invalid_condition_is_refused_at_creation(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    body = {
        "title": "bad",
        "payload": PIPELINE,
        "schedule_kind": "condition",
        "schedule_expr": "payload.total > ",
    }
    response = await client.post("/tasks", json=body, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "schedule_expr"]


async def test_paused_event_task_is_not_triggered(client: httpx.AsyncClient, alice: Caller) -> None:
    listener = await _task(client, alice, schedule_kind="event", schedule_expr="ping")
    await client.post(f"/tasks/{listener['id']}/pause", headers=alice.headers)
    response = await client.post("/events", json={"topic": "ping"}, headers=alice.headers)
    assert response.json()["triggered_tasks"] == []


async def test_topics_and_recent_events(
    client: httpx.AsyncClient, alice: Caller, wait_for: Callable[..., Awaitable[None]]
) -> None:
    for topic in ("a.one", "a.one", "b.two"):
        await client.post(
            "/events", json={"topic": topic, "payload": {"n": 1}}, headers=alice.headers
        )
    topics = (await client.get("/events/topics", headers=alice.headers)).json()["topics"]
    assert {t["topic"]: t["count"] for t in topics} == {"a.one": 2, "b.two": 1}

    async def relayed() -> bool:
        response = await client.get(
            "/events/stream/recent", params={"count": 10}, headers=alice.headers
        )
        events = [e for e in response.json()["events"] if e["type"] == "event.published"]
        return len(events) == 3

    await wait_for(relayed, timeout=10)


async def test_cleanup_needs_admin(client: httpx.AsyncClient, alice: Caller, admin: Caller) -> None:
    assert (await client.delete("/events/stream/cleanup", headers=alice.headers)).status_code == 403
    response = await client.delete("/events/stream/cleanup", headers=admin.headers)
    assert response.status_code == 200
    assert "trimmed" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"topic": ""}, id="empty_topic"),
        pytest.param({"topic": "has space"}, id="whitespace"),
        pytest.param({"payload": {}}, id="missing_topic"),
        pytest.param({"topic": "x", "extra": 1}, id="unknown_field"),
    ],
)
async def test_bad_events_are_422(
    client: httpx.AsyncClient, alice: Caller, body: dict[str, Any]
) -> None:
    response = await client.post("/events", json=body, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["errors"]
