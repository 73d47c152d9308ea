"""Queries of the scheduler tick: claim due tasks and advance them (enqueue is `occurrences`).

A tick costs three round trips on PostgreSQL: the claim (which also answers when the next task
falls due), the enqueue with its events and NOTIFY, and the advance; each write is one
statement whose rows arrive as one JSON document, so no cost grows per bound value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.states import TaskStatus
from ordinaut.store.bulk import driver_of, json_rows
from ordinaut.store.rows import to_value
from ordinaut.store.schema import task


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


@dataclass(frozen=True)
class Claim:
    """Due tasks, locked until the transaction ends, and the earliest next_run_at of any
    other active task (one still due here is held by another scheduler)."""

    tasks: list[DueTask]
    others_next_due: datetime | None


_DUE_NAMES = tuple(DueTask.__dataclass_fields__)
_DUE_COLUMNS = [task.c[name] for name in _DUE_NAMES]
_ACTIVE = task.c.status == TaskStatus.ACTIVE

# one round trip: lock the due tasks (SKIP LOCKED: concurrent schedulers take disjoint sets),
# and probe the index for the earliest other task; the probe skips at most `limit` entries
_CLAIM_POSTGRESQL = f"""
    WITH due AS MATERIALIZED (
        SELECT {", ".join(_DUE_NAMES)} FROM task
        WHERE status = 'active' AND next_run_at <= %(until)s
        ORDER BY next_run_at LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ), probe AS (
        SELECT next_run_at AS others_next_due FROM task
        WHERE status = 'active' AND next_run_at IS NOT NULL
              AND id NOT IN (SELECT id FROM due)
        ORDER BY next_run_at LIMIT 1
    )
    SELECT probe.others_next_due, due.* FROM (SELECT 1) AS one
    LEFT JOIN probe ON true LEFT JOIN due ON true
"""


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _due_task(row: tuple[Any, ...]) -> DueTask:
    values = dict(zip(_DUE_NAMES, row, strict=True))
    values["dtstart"], values["next_run_at"] = _utc(values["dtstart"]), _utc(values["next_run_at"])
    return DueTask(**values)


async def task_claim_due(conn: AsyncConnection, *, until: datetime, limit: int) -> Claim:
    """Active tasks whose next run is at or before `until` (now plus the scheduler's
    lookahead), oldest first (a range scan of `ix_task_due`).

    On PostgreSQL the rows stay locked until the transaction ends and rows another scheduler
    holds are skipped, so any number of schedulers split the work; SQLite's single writer
    (BEGIN IMMEDIATE) serialises schedulers instead.
    """
    if conn.dialect.name == "postgresql":
        driver = await driver_of(conn)
        params = {"until": until, "limit": limit}
        rows = await (await driver.execute(_CLAIM_POSTGRESQL, params)).fetchall()
        tasks = [_due_task(row[1:]) for row in rows if row[1] is not None]
        return Claim(tasks, _utc(rows[0][0]))
    query = sa.select(*_DUE_COLUMNS).where(_ACTIVE, task.c.next_run_at <= until)
    due = (await conn.execute(query.order_by(task.c.next_run_at).limit(limit))).mappings()
    tasks = [to_value(DueTask, row) for row in due]
    return Claim(tasks, await _next_due_at(conn, exclude=[t.id for t in tasks]))


async def _next_due_at(conn: AsyncConnection, exclude: Sequence[str] = ()) -> datetime | None:
    query = sa.select(task.c.next_run_at).where(_ACTIVE, task.c.next_run_at.is_not(None))
    if exclude:
        query = query.where(task.c.id.not_in(exclude))
    return (await conn.execute(query.order_by(task.c.next_run_at).limit(1))).scalar_one_or_none()


async def task_next_due_at(conn: AsyncConnection) -> datetime | None:
    """The earliest next_run_at of an active task (one index probe, whatever the task count)."""
    return await _next_due_at(conn)


# The planner guesses 100 rows for any jsonb_to_recordset, and against a small table that
# makes a one-task tick hash-join a sequential scan of every task; the LIMIT tells it the count.
_ADVANCE_POSTGRESQL = """
    UPDATE task SET next_run_at = v.next_run_at, status = v.status, updated_at = v.updated_at
    FROM (SELECT * FROM jsonb_to_recordset(%(updates)s::jsonb)
               AS r(id text, next_run_at timestamptz, status text, updated_at timestamptz)
          LIMIT %(count)s) AS v
    WHERE task.id = v.id
"""


async def task_advance(conn: AsyncConnection, updates: Sequence[dict[str, Any]]) -> None:
    """Set next_run_at and status of many tasks: keys id, next_run_at, status, updated_at."""
    if not updates:
        return
    if conn.dialect.name == "postgresql":
        params = {"updates": json_rows(updates), "count": len(updates)}
        await (await driver_of(conn)).execute(_ADVANCE_POSTGRESQL, params)
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


async def tick_commit_without_flush(conn: AsyncConnection) -> None:
    """Let this tick's commit return before its WAL reaches the disk (PostgreSQL).

    Safe for the ledger: if the database crashed before the flush, the enqueued rows and the
    task's advance vanish together, and the next tick enqueues them again. A worker's finish
    commits synchronously, which flushes every earlier commit first, so no run is ever
    recorded against a row that could vanish.
    """
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
