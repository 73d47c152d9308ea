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
from ordinaut.store.bulk import driver_of, json_rows, recordset_columns
from ordinaut.store.channels import WORK_AVAILABLE
from ordinaut.store.outbox import (
    CORE_STREAM,
    OutboxEvent,
    outbox_insert_many,
    outbox_insert_select,
)
from ordinaut.store.rows import to_value
from ordinaut.store.schema import due_work, task

PENDING = (WorkState.SCHEDULED, WorkState.RETRYING)
_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]


_KEYS = (
    "id", "task_id", "scheduled_for", "run_at", "state", "attempt", "max_attempts", "priority",
    "concurrency_key", "reason", "event_id", "created_at", "updated_at", "finished_at",
)  # fmt: skip
_DEFAULTS: dict[str, Any] = {
    "attempt": 0, "concurrency_key": None, "reason": None, "event_id": None, "finished_at": None,
}  # fmt: skip
_INSERT = f"""
    INSERT INTO due_work ({", ".join(_KEYS)})
    SELECT {", ".join(_KEYS)} FROM jsonb_to_recordset(%(rows)s::jsonb)
         AS r({recordset_columns(due_work, _KEYS, _POSTGRESQL)})
    ON CONFLICT (task_id, scheduled_for) DO NOTHING
"""
_ENQUEUE = f"{_INSERT} RETURNING id"
_INSERTED_EVENTS = """
    SELECT e.event_type, e.task_id, e.payload
    FROM ROWS FROM (jsonb_to_recordset(%(events)s::jsonb)
                    AS (id text, event_type text, task_id text, payload jsonb))
         WITH ORDINALITY AS e(id, event_type, task_id, payload, n)
    WHERE e.id IN (SELECT id FROM inserted) ORDER BY e.n
"""
# Each inserted row NOTIFYs: PostgreSQL delivers identical notifications of a transaction once.
_ENQUEUE_ANNOUNCE = f"""
    WITH inserted AS ({_INSERT} RETURNING id),
    events AS ({outbox_insert_select(_INSERTED_EVENTS)})
    SELECT id, pg_notify(%(channel)s, '') FROM inserted
"""


def occurrence_event(row: dict[str, Any]) -> OutboxEvent:
    """The event announcing a new ledger row: `occurrence.enqueued`, or `.missed` for a row
    recorded missed (a misfire that its catch-up policy does not run)."""
    missed = row["state"] == WorkState.MISSED
    payload = {
        "task_id": row["task_id"],
        "due_work_id": row["id"],
        "scheduled_for": row["scheduled_for"].isoformat(),
        "reason": row.get("reason"),
    }
    return ("occurrence.missed" if missed else "occurrence.enqueued", row["task_id"], payload)


async def due_work_enqueue(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]], *, announce_at: datetime | None = None
) -> list[str]:
    """Insert occurrences, skipping any (task_id, scheduled_for) already in the ledger.

    Returns the ids actually inserted: the unique key makes enqueue exactly-once however many
    schedulers race for the same occurrence. With `announce_at`, each inserted row also gets
    its `occurrence_event` in the outbox and workers a NOTIFY, in the same round trip.
    Rows need every column of `_KEYS` but those with `_DEFAULTS`.
    """
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        return await _enqueue_sqlite(conn, rows, announce_at)
    # one statement with the rows as one JSON document: one round trip and one compiled
    # statement whatever the row count, and encoding in C (`json`) rather than per value
    params: dict[str, Any] = {"rows": json_rows([_DEFAULTS | row for row in rows])}
    driver = await driver_of(conn)
    if announce_at is None:
        return [row[0] for row in await (await driver.execute(_ENQUEUE, params)).fetchall()]
    events = [
        {"id": row["id"], "event_type": kind, "task_id": task_id, "payload": payload}
        for row, (kind, task_id, payload) in zip(rows, map(occurrence_event, rows), strict=True)
    ]
    params |= {
        "events": json_rows(events),
        "outbox_stream": CORE_STREAM,
        "outbox_created_at": announce_at,
        "channel": WORK_AVAILABLE,
    }
    return [row[0] for row in await (await driver.execute(_ENQUEUE_ANNOUNCE, params)).fetchall()]


async def _enqueue_sqlite(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]], announce_at: datetime | None
) -> list[str]:
    query = (
        sqlite.insert(due_work)
        .on_conflict_do_nothing(index_elements=["task_id", "scheduled_for"])
        .returning(due_work.c.id)
    )
    full = [_DEFAULTS | dict(row) for row in rows]
    inserted = list((await conn.execute(query, full)).scalars())
    if announce_at is not None:
        kept = set(inserted)
        events = [occurrence_event(row) for row in full if row["id"] in kept]
        await outbox_insert_many(conn, events, announce_at)
    return inserted


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


async def due_work_cancel_ahead(
    conn: AsyncConnection, task_id: str, *, reason: str, now: datetime
) -> int:
    """Cancel the task's scheduler rows enqueued ahead of their instant (scheduled, for after
    `now`, no reason: not a run-now or a snooze), so a changed schedule does not still fire
    the old one's next occurrence."""
    query = due_work.update().where(
        due_work.c.task_id == task_id,
        due_work.c.state == WorkState.SCHEDULED,
        due_work.c.scheduled_for > now,
        due_work.c.reason.is_(None),
    )
    canceled = WorkState.CANCELED
    values = {"state": canceled, "reason": reason, "updated_at": now, "finished_at": now}
    return int((await conn.execute(query.values(**values))).rowcount)


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
