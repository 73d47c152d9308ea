"""Queries on `outbox`: events written with the change they announce, relayed to the bus later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.schema import outbox

CORE_STREAM = "ordinaut:events"


async def outbox_insert(
    conn: AsyncConnection,
    *,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
    task_id: str | None = None,
    stream: str = CORE_STREAM,
) -> None:
    await conn.execute(
        outbox.insert().values(
            event_type=event_type,
            stream=stream,
            task_id=task_id,
            payload=payload,
            created_at=now,
        )
    )


async def outbox_pending(conn: AsyncConnection, *, limit: int) -> list[dict[str, Any]]:
    """The oldest unrelayed events, in insertion order (which keeps per-task order)."""
    query = (
        sa.select(outbox).where(outbox.c.relayed_at.is_(None)).order_by(outbox.c.id).limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def outbox_mark_relayed(conn: AsyncConnection, ids: list[int], now: datetime) -> None:
    if ids:
        await conn.execute(outbox.update().where(outbox.c.id.in_(ids)).values(relayed_at=now))


async def outbox_prune(conn: AsyncConnection, *, before: datetime) -> int:
    query = outbox.delete().where(outbox.c.relayed_at.is_not(None), outbox.c.relayed_at < before)
    return int((await conn.execute(query)).rowcount)


_RELAY_LOCK_KEY = 0x0DD1AA7  # any constant shared by every relay


async def outbox_relay_lock(conn: AsyncConnection) -> bool:
    """Make this transaction the only relay (PostgreSQL advisory lock), so order holds across
    processes; SQLite's single writer already serialises relays."""
    if conn.dialect.name != "postgresql":
        return True
    query = sa.select(sa.func.pg_try_advisory_xact_lock(_RELAY_LOCK_KEY))
    return bool((await conn.execute(query)).scalar_one())
