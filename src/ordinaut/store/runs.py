"""Queries on `task_run`: one row per attempt of an occurrence, written by the worker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.states import ScheduleKind, TaskStatus
from ordinaut.store.bulk import bulk_insert
from ordinaut.store.rows import to_value
from ordinaut.store.schema import task, task_run


@dataclass(frozen=True)
class Run:
    """One attempt: `success` and `finished_at` are None only while it is still running."""

    id: str
    task_id: str
    due_work_id: str
    attempt: int
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    success: bool | None
    error: str | None
    output: dict[str, Any] | None


@dataclass(frozen=True)
class RunStats:
    """Counts and durations over a window; rates are None when there was no finished run."""

    total: int
    succeeded: int
    failed: int
    success_rate: float | None
    avg_duration_ms: float | None
    max_duration_ms: float | None
    last_started_at: datetime | None
    task_count: int


async def task_run_insert_many(conn: AsyncConnection, runs: Sequence[Run]) -> None:
    """Insert finished attempts in one round trip."""
    await bulk_insert(conn, task_run, [dict(run.__dict__) for run in runs])


async def task_run_get(conn: AsyncConnection, run_id: str) -> Run | None:
    row = (await conn.execute(sa.select(task_run).where(task_run.c.id == run_id))).mappings()
    first = row.first()
    return to_value(Run, first) if first else None


def _filters(
    *,
    task_id: str | None,
    created_by: str | None,
    success: bool | None,
    start_time: datetime | None,
    end_time: datetime | None,
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if task_id is not None:
        where.append(task_run.c.task_id == task_id)
    if created_by is not None:
        owned = sa.select(task.c.id).where(task.c.created_by == created_by)
        where.append(task_run.c.task_id.in_(owned))
    if success is not None:
        where.append(task_run.c.success.is_(success))
    if start_time is not None:
        where.append(task_run.c.started_at >= start_time)
    if end_time is not None:
        where.append(task_run.c.started_at < end_time)
    return where


async def task_run_list(
    conn: AsyncConnection,
    *,
    task_id: str | None = None,
    created_by: str | None = None,
    success: bool | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Run], int]:
    """Runs newest first and the total that match; `created_by` limits to one agent's tasks."""
    where = _filters(
        task_id=task_id,
        created_by=created_by,
        success=success,
        start_time=start_time,
        end_time=end_time,
    )
    query = (
        sa.select(task_run)
        .where(*where)
        .order_by(task_run.c.started_at.desc(), task_run.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await conn.execute(query)).mappings().all()
    count = sa.select(sa.func.count()).select_from(task_run).where(*where)
    return [to_value(Run, r) for r in rows], int((await conn.execute(count)).scalar_one())


async def task_run_latest(conn: AsyncConnection, task_id: str) -> Run | None:
    """The task's most recently started run."""
    query = (
        sa.select(task_run)
        .where(task_run.c.task_id == task_id)
        .order_by(task_run.c.started_at.desc(), task_run.c.attempt.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).mappings().first()
    return to_value(Run, row) if row else None


async def task_run_stats(
    conn: AsyncConnection,
    *,
    since: datetime,
    task_id: str | None = None,
    created_by: str | None = None,
) -> RunStats:
    """Stats of runs started at or after `since`: one task's, one agent's, or everyone's."""
    where = _filters(
        task_id=task_id, created_by=created_by, success=None, start_time=since, end_time=None
    )
    succeeded = sa.func.count().filter(task_run.c.success.is_(True))
    failed = sa.func.count().filter(task_run.c.success.is_(False))
    query = sa.select(
        sa.func.count(),
        succeeded,
        failed,
        sa.func.avg(task_run.c.duration_ms),
        sa.func.max(task_run.c.duration_ms),
        sa.func.max(task_run.c.started_at),
        sa.func.count(sa.distinct(task_run.c.task_id)),
    ).where(*where)
    total, ok, bad, avg, longest, last, tasks = (await conn.execute(query)).one()
    finished = int(ok) + int(bad)
    return RunStats(
        total=int(total),
        succeeded=int(ok),
        failed=int(bad),
        success_rate=round(int(ok) / finished, 4) if finished else None,
        avg_duration_ms=round(float(avg), 3) if avg is not None else None,
        max_duration_ms=float(longest) if longest is not None else None,
        last_started_at=last,  # max() keeps the column type: aware UTC
        task_count=int(tasks),
    )


# ------------------------------------------------------ what a finished run changes on task


async def task_set_last_run_at(conn: AsyncConnection, started: Mapping[str, datetime]) -> None:
    """`task.last_run_at` = the latest run start per task (never moved backwards)."""
    if not started:
        return
    query = (
        task.update()
        .where(
            task.c.id == sa.bindparam("task_id"),
            sa.or_(task.c.last_run_at.is_(None), task.c.last_run_at < sa.bindparam("at")),
        )
        .values(last_run_at=sa.bindparam("at"))
    )
    await conn.execute(query, [{"task_id": k, "at": v} for k, v in started.items()])


async def task_complete_once(
    conn: AsyncConnection, task_ids: Sequence[str], *, now: datetime
) -> list[str]:
    """Active one-shot tasks with nothing left to schedule become `completed`; returns them."""
    if not task_ids:
        return []
    query = (
        task.update()
        .where(
            task.c.id.in_(list(set(task_ids))),
            task.c.schedule_kind == ScheduleKind.ONCE,
            task.c.status == TaskStatus.ACTIVE,
            task.c.next_run_at.is_(None),
        )
        .values(status=TaskStatus.COMPLETED.value, updated_at=now)
        .returning(task.c.id)
    )
    return list((await conn.execute(query)).scalars())
