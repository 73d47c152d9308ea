"""A PostgreSQL restart or a killed backend costs no failed request: dead connections are
replaced on the next use."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from ordinaut.store.engine import Store


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_requests_survive_killed_database_connections(
    client: httpx.AsyncClient, alice: object, store: Store, db_url: str
) -> None:
    headers = alice.headers  # type: ignore[attr-defined]
    body = {
        "title": "t",
        "schedule_kind": "cron",
        "schedule_expr": "0 9 * * *",
        "payload": {"pipeline": [{"id": "a", "uses": "echo.message", "with": {"message": 1}}]},
    }
    created = await client.post("/tasks", json=body, headers=headers)
    assert created.status_code == 201
    dbname = db_url.rsplit("/", 1)[1]
    with psycopg.connect(db_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    read = await client.get(f"/tasks/{created.json()['id']}", headers=headers)
    assert read.status_code == 200, read.text
    again = await client.post("/tasks", json=body, headers=headers)
    assert again.status_code == 201, again.text
