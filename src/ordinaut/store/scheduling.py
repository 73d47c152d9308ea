"""Queries of the scheduler tick: find due tasks, enqueue their occurrences, advance them.

A tick writes a batch of rows to three tables. On PostgreSQL each write is one statement over
column arrays (`unnest`), so its cost is one round trip and no per-row parameter binding;
SQLite gets executemany, which SQLAlchemy turns into multi-row statements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.states import TaskStatus
from ordinaut.store.outbox import CORE_STREAM
from ordinaut.store.rows import to_value
from ordinaut.store.schema import due_work, outbox, task


@dataclass(frozen=True)
class DueTask:
    """The columns of a due task that the tick reads (not its payload: that is the worker's)."""

    id: str
    schedule_kind: str
    schedule_expr: str
    timezone: str
    dtstart: datetime
    dst_gap: str
    dst_overlap: str
    catchup: str
    misfire_grace_seconds: int
    status: str
    priority: int
    max_retries: int
    concurrency_key: str | None
    next_run_at: datetime


_DUE_COLUMNS = [task.c[name] for name in DueTask.__dataclass_fields__]


async def task_claim_due(conn: AsyncConnection, *, now: datetime, limit: int) -> list[DueTask]:
    """Active tasks whose next run has come, oldest first (a range scan of `ix_task_due`).

    On PostgreSQL the rows stay locked until the transaction ends and rows another scheduler
    holds are skipped, so any number of schedulers split the work; SQLite's single writer
    (BEGIN IMMEDIATE) serialises schedulers instead.
    """
    query = (
        sa.select(*_DUE_COLUMNS)
        .where(task.c.status == TaskStatus.ACTIVE, task.c.next_run_at <= now)
        .order_by(task.c.next_run_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [to_value(DueTask, row) for row in (await conn.execute(query)).mappings()]


def _columns(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, list[Any]]:
    """Rows as one list per key: the parameters of an `unnest(...)` statement."""
    return {key: [row[key] for row in rows] for key in keys}


_ADVANCE_KEYS = ("id", "next_run_at", "status", "updated_at")
_ADVANCE_POSTGRESQL = sa.text(
    """
    UPDATE task SET next_run_at = v.next_run_at, status = v.status, updated_at = v.updated_at
    FROM unnest(CAST(:id AS text[]), CAST(:next_run_at AS timestamptz[]),
                CAST(:status AS text[]), CAST(:updated_at AS timestamptz[]))
         AS v(id, next_run_at, status, updated_at)
    WHERE task.id = v.id
    """
)


async def task_advance(conn: AsyncConnection, updates: Sequence[dict[str, Any]]) -> None:
    """Set next_run_at and status of many tasks: keys id, next_run_at, status, updated_at."""
    if not updates:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(_ADVANCE_POSTGRESQL, _columns(updates, _ADVANCE_KEYS))
        return
    query = (
        task.update()
        .where(task.c.id == sa.bindparam("b_id"))
        .values(
            next_run_at=sa.bindparam("b_next_run_at"),
            status=sa.bindparam("b_status"),
            updated_at=sa.bindparam("b_updated_at"),
        )
    )
    await conn.execute(query, [{f"b_{k}": v for k, v in u.items()} for u in updates])


async def task_next_due_at(conn: AsyncConnection) -> datetime | None:
    """The earliest next_run_at of an active task (one index probe, whatever the task count)."""
    query = (
        sa.select(task.c.next_run_at)
        .where(task.c.status == TaskStatus.ACTIVE, task.c.next_run_at.is_not(None))
        .order_by(task.c.next_run_at)
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()


_ENQUEUE_KEYS = (
    "id", "task_id", "scheduled_for", "run_at", "state", "attempt", "max_attempts", "priority",
    "concurrency_key", "reason", "event_id", "created_at", "updated_at", "finished_at",
)  # fmt: skip
_ENQUEUE_POSTGRESQL = sa.text(
    f"""
    INSERT INTO due_work ({", ".join(_ENQUEUE_KEYS)})
    SELECT * FROM unnest(
        CAST(:id AS text[]), CAST(:task_id AS text[]), CAST(:scheduled_for AS timestamptz[]),
        CAST(:run_at AS timestamptz[]), CAST(:state AS text[]), CAST(:attempt AS int[]),
        CAST(:max_attempts AS int[]), CAST(:priority AS int[]),
        CAST(:concurrency_key AS text[]), CAST(:reason AS text[]), CAST(:event_id AS text[]),
        CAST(:created_at AS timestamptz[]), CAST(:updated_at AS timestamptz[]),
        CAST(:finished_at AS timestamptz[]))
    ON CONFLICT (task_id, scheduled_for) DO NOTHING
    RETURNING id
    """
)


async def due_work_enqueue_batch(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]]
) -> list[str]:
    """`occurrences.due_work_enqueue` for a tick's worth of rows: same keys, same result.

    Returns the ids actually inserted; the unique (task_id, scheduled_for) key skips the rest,
    which makes enqueue exactly-once however many schedulers race. (`.values([...])`, as
    `due_work_enqueue` builds it, recompiles the statement per call: at 500 rows that cost more
    than everything else in a tick together.)
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        result = await conn.execute(_ENQUEUE_POSTGRESQL, _columns(rows, _ENQUEUE_KEYS))
        return list(result.scalars())
    query = (
        sqlite.insert(due_work)
        .on_conflict_do_nothing(index_elements=["task_id", "scheduled_for"])
        .returning(due_work.c.id)
    )
    return list((await conn.execute(query, list(rows))).scalars())


_OUTBOX_POSTGRESQL = sa.text(
    """
    INSERT INTO outbox (event_type, stream, task_id, payload, created_at)
    SELECT event_type, :stream, task_id, payload, :created_at
    FROM unnest(CAST(:event_type AS text[]), CAST(:task_id AS text[]), CAST(:payload AS jsonb[]))
         AS e(event_type, task_id, payload)
    """
)


async def outbox_insert_batch(
    conn: AsyncConnection, events: Sequence[tuple[str, str | None, dict[str, Any]]], now: datetime
) -> None:
    """Core events `(event_type, task_id, payload)` in one statement (bulk `outbox_insert`)."""
    if not events:
        return
    if conn.dialect.name == "postgresql":
        params = {
            "stream": CORE_STREAM,
            "created_at": now,
            "event_type": [kind for kind, _, _ in events],
            "task_id": [task_id for _, task_id, _ in events],
            "payload": [json.dumps(payload) for _, _, payload in events],
        }
        await conn.execute(_OUTBOX_POSTGRESQL, params)
        return
    rows = [
        {"event_type": k, "stream": CORE_STREAM, "task_id": t, "payload": p, "created_at": now}
        for k, t, p in events
    ]
    await conn.execute(outbox.insert(), rows)
