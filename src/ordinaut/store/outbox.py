"""Queries on `outbox`: events written with the change they announce, relayed to the bus later."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.bulk import driver_of, json_rows
from ordinaut.store.schema import outbox

CORE_STREAM = "ordinaut:events"

_RELAY_LOCK_KEY = 0x0DD1AA7  # any constant shared by every relay


OutboxEvent = tuple[str, str | None, dict[str, Any]]
"""(event_type, task_id, payload): one event to relay."""


def outbox_insert_select(source: str) -> str:
    """SQL inserting one event per row of the query `source` (columns event_type, task_id,
    payload), in its order; binds %(outbox_stream)s and %(outbox_created_at)s (psycopg style).
    Lets a statement write events with the change they announce, in one round trip."""
    return (
        "INSERT INTO outbox (event_type, stream, task_id, payload, created_at) "
        "SELECT e.event_type, %(outbox_stream)s, e.task_id, e.payload, %(outbox_created_at)s "
        f"FROM ({source}) AS e"
    )


_INSERT_POSTGRESQL = outbox_insert_select(
    """
    SELECT event_type, task_id, payload
    FROM ROWS FROM (jsonb_to_recordset(%(events)s::jsonb)
                    AS (event_type text, task_id text, payload jsonb))
         WITH ORDINALITY AS e(event_type, task_id, payload, n)
    ORDER BY n
    """
)


async def outbox_insert_many(
    conn: AsyncConnection,
    events: Sequence[OutboxEvent],
    now: datetime,
    *,
    stream: str = CORE_STREAM,
) -> None:
    """Write events, in order, in one round trip (on PostgreSQL, one statement)."""
    if not events:
        return
    rows = [
        {"event_type": kind, "task_id": task_id, "payload": payload}
        for kind, task_id, payload in events
    ]
    if conn.dialect.name == "postgresql":
        params = {"events": json_rows(rows), "outbox_stream": stream, "outbox_created_at": now}
        await (await driver_of(conn)).execute(_INSERT_POSTGRESQL, params)
        return
    await conn.execute(
        outbox.insert(), [row | {"stream": stream, "created_at": now} for row in rows]
    )


async def outbox_pending(
    conn: AsyncConnection, *, limit: int, exclusive: bool = False
) -> list[dict[str, Any]]:
    """The oldest unrelayed events, in insertion order (which keeps per-task order).

    `exclusive` (PostgreSQL, in a transaction): also make this transaction the only relay, in
    the same round trip; no rows when another relay holds the turn. Order then holds across
    processes until the transaction ends.
    """
    query = sa.select(outbox).where(outbox.c.relayed_at.is_(None))
    if exclusive and conn.dialect.name == "postgresql":
        turn = sa.select(sa.func.pg_try_advisory_xact_lock(_RELAY_LOCK_KEY)).scalar_subquery()
        query = query.where(turn)
    query = query.order_by(outbox.c.id).limit(limit)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def outbox_mark_relayed(conn: AsyncConnection, ids: list[int], now: datetime) -> None:
    if ids:
        await conn.execute(outbox.update().where(outbox.c.id.in_(ids)).values(relayed_at=now))


async def outbox_prune(conn: AsyncConnection, *, before: datetime) -> int:
    query = outbox.delete().where(outbox.c.relayed_at.is_not(None), outbox.c.relayed_at < before)
    return int((await conn.execute(query)).rowcount)
