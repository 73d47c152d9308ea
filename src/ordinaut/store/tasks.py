"""Queries on `task`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.models import Task
from ordinaut.core.states import TaskStatus
from ordinaut.store.announce import Announcement, announce
from ordinaut.store.bulk import json_rows
from ordinaut.store.engine import fetch_row
from ordinaut.store.rows import to_value
from ordinaut.store.schema import task

_INSERT = task.insert()


# the row as one JSON document typed by the table's own row type: a statement that can carry
# an announcement (`ordinaut.store.announce`)
_INSERT_CARRIER = "INSERT INTO task SELECT * FROM jsonb_populate_recordset(NULL::task, %(task)s)"


async def task_insert(
    conn: AsyncConnection, values: dict[str, Any], announcement: Announcement | None = None
) -> Task:
    """Insert a task; `values` holds every column (the service fills defaults). With an
    `announcement`, that is written too: on PostgreSQL in the same statement."""
    if announcement is not None and conn.dialect.name == "postgresql":
        carrier = (_INSERT_CARRIER, {"task": json_rows([values])})
        await announce(conn, announcement, carrier=carrier)
        return to_value(Task, values)
    # values as parameters, not `.values(...)`: the compiled statement is then cached
    await conn.execute(_INSERT, values)
    if announcement is not None:
        await announce(conn, announcement)
    return to_value(Task, values)


_GET_POSTGRESQL = "SELECT * FROM task WHERE id = %(id)s"


async def task_get(conn: AsyncConnection, task_id: str, *, for_update: bool = False) -> Task | None:
    if conn.dialect.name == "postgresql" and not for_update:  # GET /tasks/{id}: the hot read
        found = await fetch_row(conn, _GET_POSTGRESQL, {"id": task_id})
        return to_value(Task, found) if found else None
    query = sa.select(task).where(task.c.id == task_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return to_value(Task, row) if row else None


async def task_find_duplicate(
    conn: AsyncConnection, *, created_by: str, dedupe_key: str, now: datetime
) -> Task | None:
    """The live task this agent created with `dedupe_key`, honouring each one's window.

    On PostgreSQL it first takes a transaction lock on (agent, key), so two concurrent creates
    with one key cannot both miss each other; SQLite's single writer already serialises them.
    """
    if conn.dialect.name == "postgresql":
        key = sa.func.hashtext(f"{created_by}:{dedupe_key}")
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    query = (
        sa.select(task)
        .where(
            task.c.created_by == created_by,
            task.c.dedupe_key == dedupe_key,
            task.c.status != TaskStatus.CANCELED,
        )
        .order_by(task.c.created_at.desc())
    )
    for row in (await conn.execute(query)).mappings():
        window = row["dedupe_window_seconds"]
        if window == 0 or row["created_at"] + timedelta(seconds=window) > now:
            return to_value(Task, row)
    return None


async def task_list(
    conn: AsyncConnection,
    *,
    created_by: str | None,
    status: str | None,
    schedule_kind: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Task], int]:
    where = []
    if created_by is not None:
        where.append(task.c.created_by == created_by)
    if status is not None:
        where.append(task.c.status == status)
    if schedule_kind is not None:
        where.append(task.c.schedule_kind == schedule_kind)
    query = (
        sa.select(task)
        .where(*where)
        .order_by(task.c.created_at.desc(), task.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await conn.execute(query)).mappings().all()
    count = sa.select(sa.func.count()).select_from(task).where(*where)
    return [to_value(Task, r) for r in rows], int((await conn.execute(count)).scalar_one())


async def task_update(
    conn: AsyncConnection,
    task_id: str,
    changes: dict[str, Any],
    *,
    only_if_status: Sequence[str] | None = None,
) -> Task | None:
    """Apply `changes`; None when the task is gone or not in one of `only_if_status`."""
    query = task.update().where(task.c.id == task_id)
    if only_if_status is not None:
        query = query.where(task.c.status.in_(list(only_if_status)))
    row = (await conn.execute(query.values(changes).returning(*task.c))).mappings().first()
    return to_value(Task, row) if row else None


async def task_delete(conn: AsyncConnection, task_id: str) -> bool:
    return bool((await conn.execute(task.delete().where(task.c.id == task_id))).rowcount)


async def task_event_subscribers(conn: AsyncConnection, topic: str) -> list[Task]:
    """Active `event` tasks listening on `topic`."""
    query = sa.select(task).where(
        task.c.schedule_kind == "event",
        task.c.schedule_expr == topic,
        task.c.status == TaskStatus.ACTIVE,
    )
    return [to_value(Task, r) for r in (await conn.execute(query)).mappings()]


async def task_condition_watchers(conn: AsyncConnection) -> list[Task]:
    """Active `condition` tasks: each one's test is evaluated against every published event."""
    query = sa.select(task).where(
        task.c.schedule_kind == "condition", task.c.status == TaskStatus.ACTIVE
    )
    return [to_value(Task, r) for r in (await conn.execute(query)).mappings()]
