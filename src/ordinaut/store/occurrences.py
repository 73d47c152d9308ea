"""Queries that put occurrences into the `due_work` ledger or move them before a worker has them.

The worker's side (claim, lease, finish) lives in `store.queue`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.models import DueWork
from ordinaut.core.states import WorkState
from ordinaut.store.rows import to_value
from ordinaut.store.schema import due_work, task

PENDING = (WorkState.SCHEDULED, WorkState.RETRYING)


async def due_work_enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert occurrences, skipping any (task_id, scheduled_for) already in the ledger.

    Returns the ids actually inserted: the unique key makes enqueue exactly-once however many
    schedulers race for the same occurrence.
    """
    if not rows:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    query = (
        dialect.insert(due_work)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["task_id", "scheduled_for"])
        .returning(due_work.c.id)
    )
    return [row.id for row in await conn.execute(query)]


async def due_work_get(conn: AsyncConnection, work_id: str) -> DueWork | None:
    row = (await conn.execute(sa.select(due_work).where(due_work.c.id == work_id))).mappings()
    first = row.first()
    return to_value(DueWork, first) if first else None


async def due_work_shift_pending(
    conn: AsyncConnection, task_id: str, delay: timedelta, now: datetime
) -> list[datetime]:
    """Move the task's not-yet-claimed occurrences later by `delay`; returns their new run_at.

    Row by row: a task has few pending occurrences, and SQLite cannot add intervals to its text
    instants in SQL.
    """
    pending = await conn.execute(
        sa.select(due_work.c.id, due_work.c.run_at).where(
            due_work.c.task_id == task_id, due_work.c.state.in_(PENDING)
        )
    )
    moved = []
    for row in pending.all():
        await conn.execute(
            due_work.update()
            .where(due_work.c.id == row.id)
            .values(run_at=row.run_at + delay, updated_at=now)
        )
        moved.append(row.run_at + delay)
    return moved


async def due_work_close_pending(
    conn: AsyncConnection,
    task_id: str,
    *,
    state: WorkState,
    reason: str,
    now: datetime,
    scheduled_before: datetime | None = None,
    keep_reason: str | None = None,
) -> int:
    """Move the task's unclaimed occurrences to a final `state` with `reason`.

    `scheduled_before` limits it to older occurrences; `keep_reason` spares rows with that reason
    (a run-now asked for while paused still runs).
    """
    query = due_work.update().where(due_work.c.task_id == task_id, due_work.c.state.in_(PENDING))
    if scheduled_before is not None:
        query = query.where(due_work.c.scheduled_for < scheduled_before)
    if keep_reason is not None:
        query = query.where(sa.or_(due_work.c.reason.is_(None), due_work.c.reason != keep_reason))
    result = await conn.execute(
        query.values(state=state, reason=reason, updated_at=now, finished_at=now)
    )
    return int(result.rowcount)


async def due_work_list(
    conn: AsyncConnection,
    *,
    task_ids: Sequence[str] | None,
    created_by: str | None,
    state: str | None,
    limit: int,
    offset: int,
) -> tuple[list[DueWork], int]:
    """The ledger, newest occurrence first. `created_by` restricts it to one agent's tasks."""
    where: list[Any] = []
    if task_ids is not None:
        where.append(due_work.c.task_id.in_(list(task_ids)))
    if state is not None:
        where.append(due_work.c.state == state)
    source: Any = due_work
    if created_by is not None:
        source = due_work.join(task, task.c.id == due_work.c.task_id)
        where.append(task.c.created_by == created_by)
    query = (
        sa.select(due_work)
        .select_from(source)
        .where(*where)
        .order_by(due_work.c.scheduled_for.desc(), due_work.c.id)
        .limit(limit)
        .offset(offset)
    )
    rows = (await conn.execute(query)).mappings().all()
    count = sa.select(sa.func.count()).select_from(source).where(*where)
    return [to_value(DueWork, r) for r in rows], int((await conn.execute(count)).scalar_one())
