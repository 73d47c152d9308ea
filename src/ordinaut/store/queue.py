"""Queries on `due_work` as a queue: enqueue, claim, guarded finishes, leases, recovery.

Every write after a claim is guarded by `state = 'running' AND locked_by = :worker AND
attempt = :attempt` and reports whether it applied: zero rows means the lease was lost (it
expired and the occurrence was recovered), and the caller drops its late result.

The claim is the one query with a version per dialect, kept side by side below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.ids import new_id
from ordinaut.core.models import DueWork, Task
from ordinaut.core.states import WorkState
from ordinaut.store.bulk import driver_of, task_get_many
from ordinaut.store.outbox import CORE_STREAM, outbox_insert_many
from ordinaut.store.rows import to_value
from ordinaut.store.schema import due_work, task
from ordinaut.store.types import UTCDateTime

RUN_NOW_REASON = "run_now"  # occurrences made by run-now run even while their task is paused
CANCELED_REASON = "task canceled"
WORKER_LOST = "worker lost"

Attempt = tuple[str, int]
"""(due_work id, attempt number): what a guarded write names."""

# ------------------------------------------------------------------------------------ claim

_CLAIMABLE = """
    dw.state IN ('scheduled', 'retrying') AND dw.run_at <= %(now)s
    AND (dw.reason = 'run_now' OR NOT EXISTS (
        SELECT 1 FROM task t WHERE t.id = dw.task_id AND t.status = 'paused'))
    AND (dw.concurrency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM due_work r
        WHERE r.state = 'running' AND r.concurrency_key = dw.concurrency_key))
"""
# written so the planner walks ix_due_work_claim in (priority, run_at) order and stops at the
# limit, instead of sorting every due row; the task's status is looked up per chosen row
_TASK_STATUS = "(SELECT t.status FROM task t WHERE t.id = task_id)"

_CLAIM_SET = """
    state = CASE WHEN chosen.task_status = 'canceled' THEN 'canceled' ELSE 'running' END,
    attempt = CASE WHEN chosen.task_status = 'canceled' THEN due_work.attempt
                   ELSE due_work.attempt + 1 END,
    locked_by = CASE WHEN chosen.task_status = 'canceled' THEN NULL ELSE %(worker)s END,
    locked_until = CASE WHEN chosen.task_status = 'canceled' THEN NULL ELSE %(until)s END,
    reason = CASE WHEN chosen.task_status = 'canceled' THEN %(canceled)s ELSE due_work.reason END,
    finished_at = CASE WHEN chosen.task_status = 'canceled' THEN %(now)s ELSE NULL END,
    updated_at = %(now)s
"""

_WORK_FIELDS = tuple(DueWork.__dataclass_fields__)
_TASK_FIELDS = tuple(Task.__dataclass_fields__)
_RETURNING = ", ".join(f"due_work.{name}" for name in _WORK_FIELDS)
_STARTED_PAYLOAD = """jsonb_build_object('run_id', run_id, 'task_id', task_id,
    'due_work_id', id, 'attempt', attempt, 'worker_id', locked_by)"""

# PostgreSQL, one round trip: lock candidates with SKIP LOCKED so concurrent claimers take
# disjoint rows; keep one row per concurrency key and take an advisory lock per key so two
# claimers never both start one (`_key_conflicts` then catches a claimer whose snapshot
# predates the other's commit); write run.started for unkeyed rows (keyed ones get theirs
# once they survive that check); return each row with a new run id, and its task's columns on
# the first row of each task only (a batch of one task decodes the task once).
# `{lock}` is the transaction-scoped advisory lock inside a transaction, and the session one
# when the claim commits by itself (autocommit): then it is held until `_keep_key_winners`.
_CLAIM_POSTGRESQL = f"""
WITH candidate AS MATERIALIZED (
    SELECT dw.id, dw.concurrency_key, dw.priority, dw.run_at, dw.task_id
    FROM due_work dw
    WHERE {_CLAIMABLE}
    ORDER BY dw.priority, dw.run_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), ranked AS MATERIALIZED (
    SELECT id, concurrency_key, {_TASK_STATUS} AS task_status,
           row_number() OVER (PARTITION BY concurrency_key ORDER BY priority, run_at) AS key_rank
    FROM candidate
), chosen AS MATERIALIZED (
    SELECT id, task_status FROM ranked
    WHERE CASE
        WHEN task_status = 'canceled' OR concurrency_key IS NULL THEN true
        WHEN key_rank > 1 THEN false
        ELSE {{lock}}(4242, hashtext(concurrency_key))
    END
), claimed AS (
    UPDATE due_work SET {_CLAIM_SET}
    FROM chosen
    WHERE due_work.id = chosen.id
      -- an array of ids steers the planner to primary-key lookups over a table scan
      AND due_work.id = ANY(ARRAY(SELECT id FROM chosen))
    RETURNING {_RETURNING}, gen_random_uuid()::text AS run_id
), started AS (
    INSERT INTO outbox (event_type, stream, task_id, payload, created_at)
    SELECT 'run.started', %(stream)s, task_id, {_STARTED_PAYLOAD}, %(now)s
    FROM claimed WHERE state = 'running' AND concurrency_key IS NULL
)
SELECT c.*, {", ".join(f"t.{name}" for name in _TASK_FIELDS)}
FROM (SELECT claimed.*, row_number() OVER (PARTITION BY task_id) AS task_rank
      FROM claimed) AS c
LEFT JOIN task t ON t.id = c.task_id AND c.task_rank = 1
"""
_CLAIM_IN_TRANSACTION = _CLAIM_POSTGRESQL.replace("{lock}", "pg_try_advisory_xact_lock")
_CLAIM_AUTOCOMMIT = _CLAIM_POSTGRESQL.replace("{lock}", "pg_try_advisory_lock")
_UNLOCK_KEYS = "SELECT pg_advisory_unlock(4242, hashtext(k)) FROM unnest(%(keys)s::text[]) k"

# SQLite: the Store opens every transaction with BEGIN IMMEDIATE, so the claim already runs
# alone under the write lock; one UPDATE ... FROM ... RETURNING claims, and the tasks and
# run.started events follow in the same transaction (in-process calls, no round trips).
_CLAIM_SQLITE = f"""
UPDATE due_work SET {_CLAIM_SET}
FROM (
    SELECT id, task_status FROM (
        SELECT id, {_TASK_STATUS} AS task_status, concurrency_key,
               row_number() OVER (PARTITION BY concurrency_key ORDER BY priority, run_at)
                   AS key_rank
        FROM (
            SELECT dw.id, dw.concurrency_key, dw.priority, dw.run_at, dw.task_id
            FROM due_work dw
            WHERE {_CLAIMABLE}
            ORDER BY dw.priority, dw.run_at
            LIMIT :limit
        )
    )
    WHERE task_status = 'canceled' OR concurrency_key IS NULL OR key_rank = 1
) AS chosen
WHERE due_work.id = chosen.id
RETURNING {_RETURNING}
"""


def _sqlalchemy_style(sql: str) -> str:
    """The same SQL with SQLAlchemy's `:name` placeholders instead of psycopg's."""
    return re.sub(r"%\((\w+)\)s", r":\1", sql)


_CLAIM_SQLITE_STATEMENT = (
    sa.text(_sqlalchemy_style(_CLAIM_SQLITE))
    .bindparams(
        sa.bindparam("now", type_=UTCDateTime()), sa.bindparam("until", type_=UTCDateTime())
    )
    .columns(*due_work.c)
)


@dataclass(frozen=True)
class ClaimedWork:
    """A claimed occurrence, its task, and the id its run row will have."""

    work: DueWork
    task: Task
    run_id: str


def _started_event(c: ClaimedWork) -> tuple[str, str | None, dict[str, Any]]:
    payload = {
        "run_id": c.run_id,
        "task_id": c.task.id,
        "due_work_id": c.work.id,
        "attempt": c.work.attempt,
        "worker_id": c.work.locked_by,
    }
    return ("run.started", c.task.id, payload)


async def due_work_claim(
    conn: AsyncConnection, *, worker_id: str, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedWork]:
    """Claim up to `limit` due occurrences, highest priority (1) first, then oldest.

    Skips occurrences whose concurrency key is running and those of paused tasks (unless made
    by run-now); occurrences of canceled tasks met on the way become `canceled`. Returns the
    rows now running under `worker_id` in priority order, and writes their run.started events.
    On PostgreSQL `conn` may be in autocommit: the claim is then one statement committing by
    itself (one round trip), and only a batch holding keyed rows opens a transaction after it.
    """
    params = {
        "now": now,
        "until": lease_until,
        "worker": worker_id,
        "limit": limit,
        "canceled": CANCELED_REASON,
        "stream": CORE_STREAM,
    }
    if conn.dialect.name == "postgresql":
        claimed = await _claim_postgresql(conn, worker_id, params)
    else:
        result = (await conn.execute(_CLAIM_SQLITE_STATEMENT, params)).mappings().all()
        works = [to_value(DueWork, r) for r in result if r["state"] == WorkState.RUNNING]
        tasks = await task_get_many(conn, [w.task_id for w in works])
        claimed = [ClaimedWork(w, tasks[w.task_id], new_id()) for w in works]
        await outbox_insert_many(conn, [_started_event(c) for c in claimed], now)
    return sorted(claimed, key=lambda c: (c.work.priority, c.work.run_at))


async def _claim_postgresql(
    conn: AsyncConnection, worker_id: str, params: dict[str, Any]
) -> list[ClaimedWork]:
    driver = await driver_of(conn)
    autocommit = driver.autocommit
    sql = _CLAIM_AUTOCOMMIT if autocommit else _CLAIM_IN_TRANSACTION
    rows = await (await driver.execute(sql, params)).fetchall()
    claimed = _claimed_from_rows(rows)
    keyed = [c for c in claimed if c.work.concurrency_key is not None]
    if not keyed:
        return claimed
    unkeyed = [c for c in claimed if c.work.concurrency_key is None]
    if not autocommit:
        return unkeyed + await _keep_key_winners(conn, worker_id, keyed, params["now"])
    try:  # the session locks on the keys are held until the check has committed
        async with driver.transaction():
            kept = await _keep_key_winners(conn, worker_id, keyed, params["now"])
    finally:
        keys = sorted({c.work.concurrency_key for c in keyed if c.work.concurrency_key})
        await driver.execute(_UNLOCK_KEYS, {"keys": keys})
    return unkeyed + kept


def _is_instant(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, UTCDateTime)


_N_WORK = len(_WORK_FIELDS)
_TASK_ID, _STATE = _WORK_FIELDS.index("task_id"), _WORK_FIELDS.index("state")
_FIRST_TASK_COLUMN = _N_WORK + 2  # after run_id and task_rank
_WORK_INSTANTS = [i for i, n in enumerate(_WORK_FIELDS) if _is_instant(due_work.c[n])]
_TASK_INSTANTS = [i for i, n in enumerate(_TASK_FIELDS) if _is_instant(task.c[n])]


def _claimed_from_rows(rows: Sequence[tuple[Any, ...]]) -> list[ClaimedWork]:
    """Rows of the PostgreSQL claim: due_work columns, run_id, task_rank, then the task's."""
    tasks = {
        row[_TASK_ID]: Task(*_utc_at(row[_FIRST_TASK_COLUMN:], _TASK_INSTANTS))
        for row in rows
        if row[_FIRST_TASK_COLUMN] is not None
    }
    return [
        ClaimedWork(
            DueWork(*_utc_at(row[:_N_WORK], _WORK_INSTANTS)), tasks[row[_TASK_ID]], row[_N_WORK]
        )
        for row in rows
        if row[_STATE] == WorkState.RUNNING
    ]


def _utc_at(values: Sequence[Any], instants: Sequence[int]) -> list[Any]:
    """`values` with those at `instants` in UTC (psycopg gives the session's time zone)."""
    out = list(values)
    for i in instants:
        value = out[i]
        if value is not None and value.tzinfo is not UTC:
            out[i] = value.astimezone(UTC)
    return out


async def _keep_key_winners(
    conn: AsyncConnection, worker_id: str, keyed: list[ClaimedWork], now: datetime
) -> list[ClaimedWork]:
    """Give back keyed rows whose key another claimer started meanwhile; keep the rest, and
    write their run.started events."""
    lost = await _key_conflicts(conn, [c.work.id for c in keyed])
    if lost:
        attempts = [(c.work.id, c.work.attempt) for c in keyed if c.work.id in lost]
        await due_work_release(conn, worker_id=worker_id, attempts=attempts, now=now, reason=None)
    kept = [c for c in keyed if c.work.id not in lost]
    await outbox_insert_many(conn, [_started_event(c) for c in kept], now)
    return kept


async def _key_conflicts(conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
    """Ours among `ids` whose key another running row holds (seen with a fresh snapshot)."""
    other = due_work.alias("other")
    query = sa.select(due_work.c.id).where(
        due_work.c.id.in_(ids),
        sa.exists().where(
            other.c.state == WorkState.RUNNING,
            other.c.concurrency_key == due_work.c.concurrency_key,
            other.c.id != due_work.c.id,
        ),
    )
    return set((await conn.execute(query)).scalars())


async def due_work_next_run_at(conn: AsyncConnection, *, now: datetime) -> datetime | None:
    """The earliest future `run_at` of a claimable occurrence: when a sleeping worker wakes."""
    query = sa.select(sa.func.min(due_work.c.run_at)).where(
        due_work.c.state.in_([WorkState.SCHEDULED, WorkState.RETRYING]),
        due_work.c.run_at > now,
    )
    value: datetime | None = (await conn.execute(query)).scalar_one_or_none()
    return value


# ------------------------------------------------------------------ guarded writes, leases


def _held_by(dialect: str, worker_id: str, attempts: Sequence[Attempt]) -> sa.ColumnElement[bool]:
    """The guard of every write after a claim: still running, ours, and the same attempt."""
    pair = sa.tuple_(due_work.c.id, due_work.c.attempt)
    if dialect == "postgresql":  # two text parameters: one fixed statement for any batch size
        ids = sa.func.string_to_array(sa.literal(",".join(a[0] for a in attempts)), ",")
        numbers = sa.func.string_to_array(sa.literal(",".join(str(a[1]) for a in attempts)), ",")
        given = sa.func.unnest(ids, numbers).table_valued("id", "attempt").render_derived()
        # id = ANY(ids) makes these primary-key lookups; the pair test then checks the attempt
        matches = sa.and_(
            due_work.c.id == sa.any_(ids),
            pair.in_(sa.select(given.c.id, sa.cast(given.c.attempt, sa.Integer))),
        )
    else:
        matches = pair.in_(list(attempts))
    return sa.and_(
        matches, due_work.c.state == WorkState.RUNNING, due_work.c.locked_by == worker_id
    )


async def _guarded(
    conn: AsyncConnection, worker_id: str, attempts: Sequence[Attempt], values: dict[str, Any]
) -> set[Attempt]:
    if not attempts:
        return set()
    query = (
        due_work.update()
        .where(_held_by(conn.dialect.name, worker_id, attempts))
        .values(values)
        .returning(due_work.c.id)
    )
    applied = set((await conn.execute(query)).scalars())
    return {a for a in attempts if a[0] in applied}


async def due_work_finish_success(
    conn: AsyncConnection, *, worker_id: str, attempts: Sequence[Attempt], now: datetime
) -> set[Attempt]:
    """running -> succeeded for the attempts this worker still holds; returns those applied."""
    values = {
        "state": WorkState.SUCCEEDED.value,
        "locked_by": None,
        "locked_until": None,
        "finished_at": now,
        "updated_at": now,
    }
    return await _guarded(conn, worker_id, attempts, values)


async def due_work_retry(
    conn: AsyncConnection,
    *,
    worker_id: str,
    attempt: Attempt,
    run_at: datetime,
    reason: str,
    now: datetime,
) -> bool:
    """running -> retrying, claimable again at `run_at`; False when the lease was lost."""
    values = {
        "state": WorkState.RETRYING.value,
        "run_at": run_at,
        "locked_by": None,
        "locked_until": None,
        "reason": reason,
        "updated_at": now,
    }
    return bool(await _guarded(conn, worker_id, [attempt], values))


async def due_work_fail(
    conn: AsyncConnection, *, worker_id: str, attempt: Attempt, reason: str, now: datetime
) -> bool:
    """running -> failed (final); False when the lease was lost."""
    values = {
        "state": WorkState.FAILED.value,
        "locked_by": None,
        "locked_until": None,
        "reason": reason,
        "finished_at": now,
        "updated_at": now,
    }
    return bool(await _guarded(conn, worker_id, [attempt], values))


async def due_work_extend_leases(
    conn: AsyncConnection, *, worker_id: str, attempts: Sequence[Attempt], until: datetime
) -> set[Attempt]:
    """Renew the leases this worker still holds; attempts missing from the result were lost."""
    return await _guarded(conn, worker_id, attempts, {"locked_until": until})


async def due_work_release(
    conn: AsyncConnection,
    *,
    worker_id: str,
    attempts: Sequence[Attempt],
    now: datetime,
    reason: str | None,
) -> set[Attempt]:
    """Give attempts back unrun (shutdown): claimable at once, the attempt not counted."""
    values = {
        "state": sa.case(
            (due_work.c.attempt > 1, WorkState.RETRYING.value), else_=WorkState.SCHEDULED.value
        ),
        "attempt": due_work.c.attempt - 1,
        "locked_by": None,
        "locked_until": None,
        "reason": sa.func.coalesce(reason, due_work.c.reason),
        "updated_at": now,
    }
    return await _guarded(conn, worker_id, attempts, values)


async def due_work_expired(conn: AsyncConnection, *, now: datetime, limit: int) -> list[DueWork]:
    """Running occurrences whose lease ended before `now`: their worker is gone or stuck.

    Locked (PostgreSQL: FOR UPDATE SKIP LOCKED) so one recoverer handles each; the caller
    records the lost attempt and moves each on with the guarded writes, as its old owner.
    """
    query = (
        sa.select(due_work)
        .where(due_work.c.state == WorkState.RUNNING, due_work.c.locked_until < now)
        .order_by(due_work.c.locked_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [to_value(DueWork, r) for r in (await conn.execute(query)).mappings()]
