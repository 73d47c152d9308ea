"""Tasks over HTTP: create, list, read, change, delete; each field refused at the edge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from conftest import Caller, MakeAgent


ECHO = {"pipeline": [{"id": "say", "uses": "echo.message", "with": {"message": "hi"}}]}


def task_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "report",
        "schedule_kind": "cron",
        "schedule_expr": "0 9 * * *",
        "timezone": "Europe/Chisinau",
        "payload": ECHO,
    }
    return body | overrides


async def create(client: httpx.AsyncClient, caller: Caller, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/tasks", json=task_body(**overrides), headers=caller.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def aware(text: str) -> datetime:
    instant = datetime.fromisoformat(text)
    assert instant.tzinfo is not None, text
    return instant


async def test_create_returns_the_saved_task_with_server_fields(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    assert task["created_by"] == alice.id
    assert task["status"] == "active"
    assert task["priority"] == 5
    assert task["max_retries"] == 3
    assert task["backoff_strategy"] == "exponential_jitter"
    assert (task["dst_gap"], task["dst_overlap"], task["catchup"]) == ("shift", "first", "latest")
    assert task["misfire_grace_seconds"] == 30
    assert task["last_run_at"] is None
    next_run = aware(task["next_run_at"])
    assert next_run > datetime.now(UTC)
    assert next_run.astimezone(UTC).hour in (6, 7)  # 09:00 in Chisinau, +02:00 or +03:00
    assert aware(task["created_at"]) == aware(task["updated_at"])
    fetched = await client.get(f"/tasks/{task['id']}", headers=alice.headers)
    assert fetched.status_code == 200
    assert fetched.json() == task


async def test_timezone_defaults_to_the_server_zone(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    body = task_body()
    del body["timezone"]
    response = await client.post("/tasks", json=body, headers=alice.headers)
    assert response.status_code == 201
    assert response.json()["timezone"] == "UTC"


async def test_dedupe_key_returns_the_existing_task_with_200(
    client: httpx.AsyncClient, alice: Caller, make_agent: MakeAgent
) -> None:
    first = await create(client, alice, dedupe_key="daily-report")
    again = await client.post(
        "/tasks", json=task_body(dedupe_key="daily-report", title="other"), headers=alice.headers
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    bob = await make_agent("bob", ["tasks:read", "tasks:write"])
    theirs = await create(client, bob, dedupe_key="daily-report")
    assert theirs["id"] != first["id"]  # the key is per creator
    await client.post(f"/tasks/{first['id']}/cancel", headers=alice.headers)
    after_cancel = await create(client, alice, dedupe_key="daily-report")
    assert after_cancel["id"] != first["id"]


async def test_list_envelope_filters_and_newest_first(
    client: httpx.AsyncClient, alice: Caller, admin: Caller
) -> None:
    ids = [(await create(client, alice, title=f"t{i}"))["id"] for i in range(3)]
    event = await create(client, alice, schedule_kind="event", schedule_expr="orders.new")
    await client.post(f"/tasks/{ids[0]}/pause", headers=alice.headers)
    await create(client, admin, title="admin's")

    page = (await client.get("/tasks?limit=2", headers=alice.headers)).json()
    assert page["total"] == 4
    assert page["limit"] == 2
    assert page["offset"] == 0
    assert page["has_more"] is True
    assert [t["id"] for t in page["items"]] == [event["id"], ids[2]]
    rest = (await client.get("/tasks?limit=2&offset=2", headers=alice.headers)).json()
    assert [t["id"] for t in rest["items"]] == [ids[1], ids[0]]
    assert rest["has_more"] is False

    paused = (await client.get("/tasks?status=paused", headers=alice.headers)).json()
    assert [t["id"] for t in paused["items"]] == [ids[0]]
    events = (await client.get("/tasks?schedule_kind=event", headers=alice.headers)).json()
    assert [t["id"] for t in events["items"]] == [event["id"]]

    everyone = (await client.get("/tasks", headers=admin.headers)).json()
    assert everyone["total"] == 5
    by_alice = (await client.get(f"/tasks?created_by={alice.id}", headers=admin.headers)).json()
    assert by_alice["total"] == 4
    not_mine = (await client.get(f"/tasks?created_by={admin.id}", headers=alice.headers)).json()
    assert not_mine["total"] == 0
    assert not_mine["items"] == []


BAD_QUERIES = [
    ("limit=0", ["query", "limit"]),
    ("limit=201", ["query", "limit"]),
    ("offset=-1", ["query", "offset"]),
    ("offset=99999999999999999999999", ["query", "offset"]),
    ("status=sleeping", ["query", "status"]),
    ("schedule_kind=weekly", ["query", "schedule_kind"]),
    ("created_by=%00", ["query", "created_by"]),
]


async def test_list_refuses_bad_query(client: httpx.AsyncClient, alice: Caller) -> None:
    for query, loc in BAD_QUERIES:
        response = await client.get(f"/tasks?{query}", headers=alice.headers)
        assert response.status_code == 422, query
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["loc"] for e in response.json()["errors"]] == [loc], query


BAD_FIELDS: list[tuple[dict[str, Any], list[Any]]] = [
    ({"schedule_expr": "61 * * * *"}, ["body", "schedule_expr"]),
    ({"timezone": "Mars/Olympus"}, ["body", "timezone"]),
    ({"schedule_kind": "hourly"}, ["body", "schedule_kind"]),
    ({"schedule_kind": "rrule", "schedule_expr": "FREQ=SOMETIMES"}, ["body", "schedule_expr"]),
    ({"schedule_kind": "once", "schedule_expr": "tomorrow"}, ["body", "schedule_expr"]),
    ({"schedule_kind": "condition", "schedule_expr": "a[?"}, ["body", "schedule_expr"]),
    ({"payload": {"pipeline": [{"uses": "nope.tool"}]}}, ["body", "payload", "pipeline", 0]),
    ({"payload": {"pipeline": []}}, ["body", "payload", "pipeline"]),
    ({"title": ""}, ["body", "title"]),
    ({"title": "x" * 201}, ["body", "title"]),
    ({"title": "a\u0000b"}, ["body", "title"]),
    ({"priority": 0}, ["body", "priority"]),
    ({"priority": 10**40}, ["body", "priority"]),
    ({"priority": "high"}, ["body", "priority"]),
    ({"max_retries": 11}, ["body", "max_retries"]),
    ({"backoff_strategy": "random"}, ["body", "backoff_strategy"]),
    ({"dedupe_window_seconds": 10**30}, ["body", "dedupe_window_seconds"]),
    ({"dst_gap": "later"}, ["body", "dst_gap"]),
    ({"catchup": "some"}, ["body", "catchup"]),
    ({"misfire_grace_seconds": -1}, ["body", "misfire_grace_seconds"]),
    ({"colour": "blue"}, ["body", "colour"]),
    ({"payload": {"params": {"k": "\u0000"}, **ECHO}}, ["body", "payload", "params", "k"]),
]


async def test_create_refuses_each_bad_field_naming_it(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    for overrides, loc in BAD_FIELDS:
        response = await client.post("/tasks", json=task_body(**overrides), headers=alice.headers)
        assert response.status_code == 422, (overrides, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        locs = [e["loc"] for e in response.json()["errors"]]
        assert any(found[: len(loc)] == loc for found in locs), (overrides, locs)
    listed = await client.get("/tasks", headers=alice.headers)
    assert listed.json()["total"] == 0


MALFORMED_BODIES = [
    b'{"title": ',
    b"[1, 2]",
    b"null",
    b'{"title": "t", "payload": {"params": {"x": NaN}, "pipeline": []}}',
    b'{"title": "t", "payload": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"title": "\\ud800", "schedule_kind": "event", "schedule_expr": "t", "payload": {}}',
]


async def test_malformed_bodies_are_4xx_never_500(client: httpx.AsyncClient, alice: Caller) -> None:
    headers = alice.headers | {"content-type": "application/json"}
    for content in MALFORMED_BODIES:
        response = await client.post("/tasks", content=content, headers=headers)
        assert response.status_code in (400, 422), (content[:80], response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_reports_every_problem_at_once(client: httpx.AsyncClient, alice: Caller) -> None:
    body = task_body(
        schedule_expr="not cron",
        payload={"pipeline": [{"uses": "echo.message", "with": {}}, {"uses": "no.such"}]},
    )
    response = await client.post("/tasks", json=body, headers=alice.headers)
    locs = [e["loc"] for e in response.json()["errors"]]
    assert ["body", "schedule_expr"] in locs
    assert any(loc[:4] == ["body", "payload", "pipeline", 0] for loc in locs)
    assert ["body", "payload", "pipeline", 1, "uses"] in locs


async def test_tool_needing_a_scope_the_owner_lacks_is_refused(
    client: httpx.AsyncClient, make_agent: MakeAgent
) -> None:
    bob = await make_agent("bob", ["tasks:read", "tasks:write"])
    publish = {"pipeline": [{"uses": "events.publish", "with": {"topic": "x"}}]}
    response = await client.post("/tasks", json=task_body(payload=publish), headers=bob.headers)
    assert response.status_code == 422
    assert ["body", "payload", "pipeline", 0, "uses"] in [
        e["loc"] for e in response.json()["errors"]
    ]


async def test_update_is_partial_and_a_schedule_change_recomputes_next_run(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    renamed = await client.put(
        f"/tasks/{task['id']}", json={"title": "renamed"}, headers=alice.headers
    )
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "renamed"
    assert renamed.json()["next_run_at"] == task["next_run_at"]
    assert renamed.json()["schedule_expr"] == task["schedule_expr"]

    soon = datetime.now(UTC) + timedelta(hours=2)
    once = soon.replace(second=0, microsecond=0).isoformat()
    moved = await client.put(
        f"/tasks/{task['id']}",
        json={"schedule_kind": "once", "schedule_expr": once},
        headers=alice.headers,
    )
    assert moved.status_code == 200, moved.text
    assert aware(moved.json()["next_run_at"]) == datetime.fromisoformat(once)
    assert aware(moved.json()["updated_at"]) > aware(task["updated_at"])


BAD_PATCHES: list[tuple[dict[str, Any], list[Any]]] = [
    ({"title": None}, ["body", "title"]),
    ({"schedule_kind": None}, ["body", "schedule_kind"]),
    ({"schedule_expr": "every day"}, ["body", "schedule_expr"]),
    ({"timezone": "Nowhere/City"}, ["body", "timezone"]),
    ({"payload": {"pipeline": [{"uses": 3}]}}, ["body", "payload", "pipeline", 0, "uses"]),
    ({"created_by": "someone"}, ["body", "created_by"]),
]


async def test_update_refuses_bad_fields(client: httpx.AsyncClient, alice: Caller) -> None:
    task = await create(client, alice)
    for patch, loc in BAD_PATCHES:
        response = await client.put(f"/tasks/{task['id']}", json=patch, headers=alice.headers)
        assert response.status_code == 422, (patch, response.text)
        assert loc in [e["loc"] for e in response.json()["errors"]], patch
    unchanged = await client.get(f"/tasks/{task['id']}", headers=alice.headers)
    assert unchanged.json() == task


async def test_update_of_a_canceled_task_is_a_conflict(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    task = await create(client, alice)
    await client.post(f"/tasks/{task['id']}/cancel", headers=alice.headers)
    response = await client.put(f"/tasks/{task['id']}", json={"title": "x"}, headers=alice.headers)
    assert response.status_code == 409


async def test_delete_is_204_then_404(client: httpx.AsyncClient, alice: Caller) -> None:
    task = await create(client, alice)
    deleted = await client.delete(f"/tasks/{task['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(f"/tasks/{task['id']}", headers=alice.headers)).status_code == 404
    again = await client.delete(f"/tasks/{task['id']}", headers=alice.headers)
    assert again.status_code == 404


async def test_another_agents_task_is_not_found_admin_sees_it(
    client: httpx.AsyncClient, alice: Caller, admin: Caller, make_agent: MakeAgent
) -> None:
    task = await create(client, alice)
    mallory = await make_agent("mallory", ["tasks:read", "tasks:write"])
    path = f"/tasks/{task['id']}"
    requests = [
        ("GET", path, None),
        ("PUT", path, {"title": "mine now"}),
        ("DELETE", path, None),
        ("GET", f"{path}/schedule", None),
        ("POST", f"{path}/run_now", None),
        ("POST", f"{path}/snooze", {"delay_seconds": 60}),
        ("POST", f"{path}/pause", None),
        ("POST", f"{path}/resume", None),
        ("POST", f"{path}/cancel", None),
    ]
    for method, url, body in requests:
        response = await client.request(method, url, json=body, headers=mallory.headers)
        assert response.status_code == 404, (method, url, response.text)
    seen = await client.get(path, headers=admin.headers)
    assert seen.status_code == 200
    assert seen.json()["title"] == "report"


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, alice: Caller) -> None:
    unknown = await client.get("/tasks/00000000-0000-4000-8000-000000000000", headers=alice.headers)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    malformed = await client.get("/tasks/not-a-uuid", headers=alice.headers)
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["loc"] == ["path", "task_id"]


async def test_reading_needs_tasks_read_and_writing_tasks_write(
    client: httpx.AsyncClient, make_agent: MakeAgent
) -> None:
    reader = await make_agent("reader", ["tasks:read"])
    refused = await client.post("/tasks", json=task_body(), headers=reader.headers)
    assert refused.status_code == 403
    assert (await client.get("/tasks", headers=reader.headers)).status_code == 200
    runner = await make_agent("runner", ["runs:read"])
    assert (await client.get("/tasks", headers=runner.headers)).status_code == 403
    assert (await client.get("/tasks")).status_code == 401


async def test_instants_carry_an_offset(client: httpx.AsyncClient, alice: Caller) -> None:
    task = await create(client, alice)
    raw = json.dumps(task)
    for field in ("next_run_at", "created_at", "updated_at", "dtstart"):
        aware(task[field])
    assert "+00:00" in raw or "Z" in raw
