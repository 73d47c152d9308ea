"""Event and condition tasks end to end: POST /events -> occurrence -> a real worker runs the
pipeline -> the run's output holds the event's values with their JSON types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ordinaut.api.app import create_app
from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.runtime import EmbeddedWorker
from ordinaut.services.agents import create_agent
from ordinaut.store.engine import Store

WaitFor = Callable[..., Awaitable[None]]
SCOPES = ["tasks:read", "tasks:write", "runs:read", "events:publish", "events:read"]
ECHO_EVENT = {
    "pipeline": [
        {
            "id": "seen",
            "uses": "echo.message",
            "with": {
                "message": {
                    "total": "${event.payload.total}",
                    "items": "${event.payload.items}",
                    "paid": "${event.payload.paid}",
                    "topic": "${event.topic}",
                    "id": "${event.id}",
                    "line": "order ${event.payload.total} on ${event.topic}",
                }
            },
            "save_as": "seen",
        }
    ]
}
ORDER = {"total": 120.5, "items": [{"sku": "a", "qty": 2}], "paid": True, "note": None}


@pytest.fixture
async def api(db_url: str, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a real worker (TaskPipelineRunner) beside it, as `ordinaut up` runs it."""
    settings = Settings(
        DATABASE_URL=db_url,
        RATE_LIMIT_PER_SECOND=0,
        ENVIRONMENT="test",
        WORKER_POLL_INTERVAL=0.05,
    )
    async with store.transaction() as conn:
        issued = await create_agent(conn, name="orders", scopes=SCOPES, clock=SystemClock())
    app = create_app(settings, store=store, components=lambda ctx: [EmbeddedWorker(ctx)])
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://ordinaut.test",
            headers={"Authorization": f"Bearer {issued.secret}"},
        ) as client,
    ):
        yield client


async def _task(client: httpx.AsyncClient, kind: str, expr: str) -> str:
    body = {"title": kind, "schedule_kind": kind, "schedule_expr": expr, "payload": ECHO_EVENT}
    response = await client.post("/tasks", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _publish(client: httpx.AsyncClient, topic: str, payload: Any) -> dict[str, Any]:
    response = await client.post("/events", json={"topic": topic, "payload": payload})
    assert response.status_code == 202, response.text
    return dict(response.json())


async def _runs(client: httpx.AsyncClient, task_id: str) -> list[dict[str, Any]]:
    response = await client.get("/runs", params={"task_id": task_id, "include_errors": True})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _one_run(client: httpx.AsyncClient, task_id: str, wait_for: WaitFor) -> dict[str, Any]:
    async def finished() -> bool:
        return len(await _runs(client, task_id)) == 1

    await wait_for(finished, timeout=15)
    (run,) = await _runs(client, task_id)
    assert run["success"] is True, run
    return run


def _seen(run: dict[str, Any]) -> dict[str, Any]:
    """What the echo step returned: exactly what the pipeline saw of the event."""
    (step,) = run["output"]["steps"]
    assert step["id"] == "seen"
    seen: dict[str, Any] = step["output"]["message"]
    return seen


@pytest.mark.parametrize(
    ("kind", "expr"),
    [
        pytest.param("event", "orders.created", id="event_task"),
        pytest.param(
            "condition", "topic == 'orders.created' && payload.total > `100`", id="condition_task"
        ),
    ],
)
async def test_published_event_runs_the_task_with_the_payload(
    api: httpx.AsyncClient, wait_for: WaitFor, kind: str, expr: str
) -> None:
    task_id = await _task(api, kind, expr)
    published = await _publish(api, "orders.created", ORDER)
    assert published["triggered_tasks"] == [task_id]

    run = await _one_run(api, task_id, wait_for)
    assert _seen(run) == {
        "total": 120.5,
        "items": [{"sku": "a", "qty": 2}],
        "paid": True,
        "topic": "orders.created",
        "id": published["event_id"],
        "line": "order 120.5 on orders.created",
    }
    work = (await api.get("/work", params={"task_id": task_id})).json()["items"]
    assert [(w["state"], w["reason"]) for w in work] == [("succeeded", "event")]


async def test_condition_that_does_not_hold_runs_nothing(
    api: httpx.AsyncClient, wait_for: WaitFor
) -> None:
    watcher = await _task(api, "condition", "topic == 'orders.created' && payload.total > `100`")
    listener = await _task(api, "event", "orders.created")
    published = await _publish(api, "orders.created", ORDER | {"total": 99})
    assert published["triggered_tasks"] == [listener]
    assert _seen(await _one_run(api, listener, wait_for))["total"] == 99
    assert await _runs(api, watcher) == []
    assert (await api.get("/work", params={"task_id": watcher})).json()["items"] == []


async def test_unknown_topic_is_accepted_and_triggers_nothing(
    api: httpx.AsyncClient, wait_for: WaitFor
) -> None:
    listener = await _task(api, "event", "orders.created")
    published = await _publish(api, "orders.nobody-listens", ORDER)
    assert published["triggered_tasks"] == []
    assert (await api.get("/work", params={"task_id": listener})).json()["items"] == []
    # the event is stored all the same: it shows among the topics
    topics = (await api.get("/events/topics")).json()["topics"]
    assert {t["topic"]: t["count"] for t in topics} == {"orders.nobody-listens": 1}
    # and a later matching event still finds its listener: the worker was alive all along
    await _publish(api, "orders.created", ORDER)
    await _one_run(api, listener, wait_for)
