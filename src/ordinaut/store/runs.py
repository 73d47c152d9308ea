"""Queries on `task_run`: one row per attempt of an occurrence, written by the worker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.states import ScheduleKind, TaskStatus, WorkState
from ordinaut.store.bulk import bulk_insert, driver_of, json_rows
from ordinaut.store.outbox import CORE_STREAM, OutboxEvent, outbox_insert_many
from ordinaut.store.queue import Attempt, due_work_fail, due_work_finish_success, due_work_retry
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


@dataclass(frozen=True)
class RunEnd:
    """How an attempt ends: its run row and the occurrence's next state (`succeeded`,
    `retrying` at `retry_at`, or `failed`, with `reason`). `run.worker_id` is the lease
    owner the write is guarded by."""

    run: Run
    state: WorkState
    retry_at: datetime | None = None
    reason: str | None = None


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


# ------------------------------------------------- ending attempts: the finish of a batch

_END_COLUMNS = """id text, due_work_id text, attempt int, worker_id text, started_at timestamptz,
    finished_at timestamptz, duration_ms float8, success bool, error text, output jsonb,
    state text, retry_at timestamptz, reason text"""
_END_NAMES = [line.split()[0] for line in _END_COLUMNS.replace("\n", " ").split(", ")]

# PostgreSQL, one statement (so in autocommit it is its own transaction): move each occurrence
# still running under its owner at that attempt; for those moved, insert the run row and the
# run.succeeded/run.failed (then occurrence.failed) events, and keep the task's last_run_at
# and a one-shot task's completion. Task rows are locked in id order: finishers of batches
# sharing tasks queue instead of deadlocking.
_FINISH_POSTGRESQL = f"""
WITH given AS MATERIALIZED (
    SELECT * FROM ROWS FROM (jsonb_to_recordset(%(ends)s::jsonb) AS ({_END_COLUMNS}))
         WITH ORDINALITY AS g({", ".join(_END_NAMES)}, n)
    LIMIT %(count)s
), moved AS (
    UPDATE due_work SET
        state = g.state,
        run_at = COALESCE(g.retry_at, due_work.run_at),
        locked_by = NULL,
        locked_until = NULL,
        reason = CASE WHEN g.state = 'succeeded' THEN due_work.reason ELSE g.reason END,
        finished_at = CASE WHEN g.state = 'retrying' THEN due_work.finished_at ELSE %(now)s END,
        updated_at = %(now)s
    FROM given g
    WHERE due_work.id = g.due_work_id AND due_work.attempt = g.attempt
      AND due_work.state = 'running' AND due_work.locked_by = g.worker_id
      AND due_work.id = ANY(ARRAY(SELECT due_work_id FROM given))
    RETURNING due_work.id, due_work.task_id
), kept AS MATERIALIZED (
    SELECT g.*, m.task_id FROM given g JOIN moved m ON m.id = g.due_work_id
), runs AS (
    INSERT INTO task_run (id, task_id, due_work_id, attempt, worker_id, started_at,
                          finished_at, duration_ms, success, error, output)
    SELECT id, task_id, due_work_id, attempt, worker_id, started_at, finished_at,
           duration_ms, success, error, output
    FROM kept ORDER BY n
), events AS (
    INSERT INTO outbox (event_type, stream, task_id, payload, created_at)
    SELECT event_type, %(stream)s, task_id, payload, %(now)s FROM (
        SELECT 0 AS part, n, task_id,
               CASE WHEN success THEN 'run.succeeded' ELSE 'run.failed' END AS event_type,
               jsonb_build_object('run_id', id, 'task_id', task_id, 'due_work_id', due_work_id,
                   'attempt', attempt, 'worker_id', worker_id, 'duration_ms', duration_ms,
                   'error', error) AS payload
        FROM kept
        UNION ALL
        SELECT 1, n, task_id, 'occurrence.failed',
               jsonb_build_object('task_id', task_id, 'due_work_id', due_work_id,
                   'attempts', attempt, 'error', error)
        FROM kept WHERE state = 'failed'
    ) AS e ORDER BY part, n
), per_task AS (
    SELECT task_id, max(started_at) AS started_at, bool_or(state <> 'retrying') AS final
    FROM kept GROUP BY task_id
), locked AS (
    SELECT task.id, per_task.started_at,
           per_task.final AND task.schedule_kind = 'once' AND task.status = 'active'
               AND task.next_run_at IS NULL AS completes
    FROM task JOIN per_task ON per_task.task_id = task.id
    WHERE task.id = ANY(ARRAY(SELECT task_id FROM per_task))
    ORDER BY task.id
    FOR NO KEY UPDATE OF task
), touched AS (
    UPDATE task SET
        last_run_at = GREATEST(task.last_run_at, locked.started_at),
        status = CASE WHEN locked.completes THEN 'completed' ELSE task.status END,
        updated_at = CASE WHEN locked.completes THEN %(now)s ELSE task.updated_at END
    FROM locked
    WHERE task.id = locked.id
      AND (locked.completes OR task.last_run_at IS NULL OR task.last_run_at < locked.started_at)
)
SELECT due_work_id, attempt FROM kept
"""


def _end_row(end: RunEnd) -> dict[str, Any]:
    run = end.run
    return {
        "id": run.id,
        "due_work_id": run.due_work_id,
        "attempt": run.attempt,
        "worker_id": run.worker_id,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_ms": run.duration_ms,
        "success": run.success,
        "error": run.error,
        "output": run.output,
        "state": end.state.value,
        "retry_at": end.retry_at.isoformat() if end.retry_at else None,
        "reason": end.reason,
    }


async def run_finish_many(
    conn: AsyncConnection, ends: Sequence[RunEnd], *, now: datetime
) -> set[Attempt]:
    """End attempts: each occurrence's guarded state change with its `task_run` row, its
    run.succeeded/run.failed (and occurrence.failed) events, `task.last_run_at` and a one-shot
    task's completion. Returns the attempts applied; the others' leases were lost and nothing
    of theirs is written.

    On PostgreSQL this is one statement, atomic even on a connection in autocommit; on SQLite
    a few statements in the caller's transaction.
    """
    if not ends:
        return set()
    if conn.dialect.name != "postgresql":
        return await _finish_sqlite(conn, ends, now)
    params = {
        "ends": json_rows([_end_row(end) for end in ends]),
        "count": len(ends),
        "now": now,
        "stream": CORE_STREAM,
    }
    rows = await (await (await driver_of(conn)).execute(_FINISH_POSTGRESQL, params)).fetchall()
    return {(work_id, attempt) for work_id, attempt in rows}


async def _finish_sqlite(
    conn: AsyncConnection, ends: Sequence[RunEnd], now: datetime
) -> set[Attempt]:
    applied: set[Attempt] = set()
    successes = [e.run for e in ends if e.state == WorkState.SUCCEEDED]
    for owner in {run.worker_id for run in successes}:
        attempts = [(r.due_work_id, r.attempt) for r in successes if r.worker_id == owner]
        applied |= await due_work_finish_success(conn, worker_id=owner, attempts=attempts, now=now)
    for end in ends:
        run, attempt = end.run, (end.run.due_work_id, end.run.attempt)
        reason = end.reason or "failed"
        if end.state == WorkState.RETRYING and end.retry_at is not None:
            done = await due_work_retry(
                conn, worker_id=run.worker_id, attempt=attempt, run_at=end.retry_at,
                reason=reason, now=now,
            )  # fmt: skip
        elif end.state == WorkState.FAILED:
            done = await due_work_fail(
                conn, worker_id=run.worker_id, attempt=attempt, reason=reason, now=now
            )
        else:
            continue
        if done:
            applied.add(attempt)
    kept = [e for e in ends if (e.run.due_work_id, e.run.attempt) in applied]
    await _record(conn, kept, now)
    return applied


async def _record(conn: AsyncConnection, kept: Sequence[RunEnd], now: datetime) -> None:
    """What every applied end writes besides the state change (SQLite)."""
    runs = [e.run for e in kept]
    await task_run_insert_many(conn, runs)
    events = [_run_event(run) for run in runs]
    events += [_failed_event(e.run) for e in kept if e.state == WorkState.FAILED]
    await outbox_insert_many(conn, events, now)
    latest: dict[str, datetime] = {}
    for run in runs:
        if run.task_id not in latest or latest[run.task_id] < run.started_at:
            latest[run.task_id] = run.started_at
    await task_set_last_run_at(conn, latest)
    final = {e.run.task_id for e in kept if e.state != WorkState.RETRYING}
    await task_complete_once(conn, sorted(final), now=now)


def _run_event(run: Run) -> OutboxEvent:
    kind = "run.succeeded" if run.success else "run.failed"
    payload = {
        "run_id": run.id,
        "task_id": run.task_id,
        "due_work_id": run.due_work_id,
        "attempt": run.attempt,
        "worker_id": run.worker_id,
        "duration_ms": run.duration_ms,
        "error": run.error,
    }
    return (kind, run.task_id, payload)


def _failed_event(run: Run) -> OutboxEvent:
    payload = {"task_id": run.task_id, "due_work_id": run.due_work_id, "attempts": run.attempt}
    return ("occurrence.failed", run.task_id, {**payload, "error": run.error})
