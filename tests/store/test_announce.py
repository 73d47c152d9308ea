"""A write that carries its announcement: the task, its audit row, its event and its NOTIFY
land together (on PostgreSQL in one autocommit statement) or not at all."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ordinaut.core.clock import FrozenClock
from ordinaut.core.settings import Settings
from ordinaut.pipeline.registry import ToolRegistry
from ordinaut.services.agents import create_agent
from ordinaut.services.context import Actor, ServiceContext
from ordinaut.store.announce import Announcement
from ordinaut.store.channels import TASKS_CHANGED
from ordinaut.store.engine import Store
from ordinaut.store.schema import audit_log, outbox
from ordinaut.store.tasks import task_get, task_insert

T0 = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)


def task_values(created_by: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()), "title": "carried", "description": "ü ' \" \\ ${x}",
        "created_by": created_by, "schedule_kind": "rrule",
        "schedule_expr": "FREQ=DAILY;BYHOUR=9", "timezone": "Europe/Chisinau", "dtstart": T0,
        "payload": {"pipeline": [{"id": "a", "uses": "echo.message", "with": {"n": [1, None]}}]},
        "status": "active", "priority": 3, "max_retries": 2, "backoff_strategy": "linear",
        "dedupe_key": None, "dedupe_window_seconds": 0, "concurrency_key": "k",
        "dst_gap": "skip", "dst_overlap": "both", "catchup": "all",
        "misfire_grace_seconds": 7, "next_run_at": T0, "last_run_at": None,
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip


async def agent_id(store: Store) -> str:
    async with store.transaction() as conn:
        issued = await create_agent(conn, name="a", scopes=[], clock=FrozenClock(T0))
    return issued.agent.id


def announcement(task_id: str) -> Announcement:
    said = Announcement("someone", "req-1", T0, channels={TASKS_CHANGED})
    said.audit("task.create", "task", task_id, {"title": "carried"})
    said.events.append(("task.created", task_id, {"task_id": task_id}))
    return said


async def counts(store: Store) -> tuple[int, int]:
    async with store.connect() as conn:
        audits = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar()
        events = (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar()
    return int(audits or 0), int(events or 0)


async def test_the_task_and_its_announcement_land_together(store: Store) -> None:
    values = task_values(await agent_id(store))
    before = await counts(store)
    async with store.read() if store.is_postgres else store.transaction() as conn:
        inserted = await task_insert(conn, values, announcement(values["id"]))
    async with store.connect() as conn:
        assert await task_get(conn, values["id"]) == inserted
        audit = (await conn.execute(sa.select(audit_log))).mappings().all()[-1]
    assert (audit["action"], audit["subject_id"], audit["request_id"]) == (
        "task.create", values["id"], "req-1",
    )  # fmt: skip
    assert await counts(store) == (before[0] + 1, before[1] + 1)


async def test_a_failed_carrier_writes_nothing(store: Store) -> None:
    values = task_values("no-such-agent")
    before = await counts(store)
    # the PostgreSQL statement runs on the psycopg connection: the driver's error class
    with pytest.raises((IntegrityError, psycopg.errors.IntegrityError)):
        async with store.read() if store.is_postgres else store.transaction() as conn:
            await task_insert(conn, values, announcement(values["id"]))
    assert await counts(store) == before


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_the_carried_notify_is_delivered(store: Store, db_url: str) -> None:
    values = task_values(await agent_id(store))
    listener = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    try:
        await listener.execute(f"LISTEN {TASKS_CHANGED}")
        async with store.read() as conn:
            await task_insert(conn, values, announcement(values["id"]))
        async with asyncio.timeout(5):
            note = await anext(aiter(listener.notifies()))
        assert note.channel == TASKS_CHANGED
    finally:
        await listener.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_single_write_refuses_to_drop_what_it_did_not_carry(store: Store) -> None:
    ctx = ServiceContext(Settings(), store, FrozenClock(T0), ToolRegistry())
    with pytest.raises(RuntimeError, match="carry"):
        async with ctx.single_write(Actor(None)) as uow:
            await uow.audit("task.create", "task", None, {})
