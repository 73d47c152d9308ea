"""Batch helpers of the queue: many rows in one round trip, and what a claimed batch needs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.models import Task
from ordinaut.store.rows import to_value
from ordinaut.store.schema import event, task


async def task_get_many(conn: AsyncConnection, task_ids: Sequence[str]) -> dict[str, Task]:
    """The tasks of a claimed batch, by id, in one query."""
    if not task_ids:
        return {}
    query = sa.select(task).where(task.c.id.in_(list(set(task_ids))))
    return {r["id"]: to_value(Task, r) for r in (await conn.execute(query)).mappings()}


async def event_get_many(
    conn: AsyncConnection, event_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The events that triggered a claimed batch, as the pipeline sees them (`${event...}`)."""
    if not event_ids:
        return {}
    query = sa.select(event).where(event.c.id.in_(list(set(event_ids))))
    return {
        r["id"]: {
            "id": r["id"],
            "topic": r["topic"],
            "payload": r["payload"],
            "source": r["source"],
            "published_at": r["published_at"].isoformat(),
        }
        for r in (await conn.execute(query)).mappings()
    }


async def bulk_insert(
    conn: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert many rows in one round trip: on PostgreSQL one JSON document expanded by
    `jsonb_to_recordset` (one parameter, encoded in C); on SQLite `executemany` (a C loop)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        await conn.execute(table.insert(), list(rows))
        return
    names = list(rows[0])
    columns = ", ".join(
        f"{n} {'jsonb' if _is_json(table.c[n]) else table.c[n].type.compile(dialect=conn.dialect)}"
        for n in names
    )
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(names)} "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({columns})"
    )
    await conn.execute(sa.text(sql), {"rows": json.dumps(rows, default=_json_default)})


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.JSON)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
