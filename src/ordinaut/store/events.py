"""Queries on `event`: every published event is stored before anything reacts to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.schema import event


async def event_insert(
    conn: AsyncConnection,
    *,
    id: str,
    topic: str,
    payload: Any,
    source: str | None,
    published_by: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        event.insert().values(
            id=id,
            topic=topic,
            payload=payload,
            source=source,
            published_by=published_by,
            published_at=now,
        )
    )


async def event_get(conn: AsyncConnection, event_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(event).where(event.c.id == event_id))).mappings().first()
    return dict(row) if row else None


async def event_topics(conn: AsyncConnection, *, limit: int) -> list[dict[str, Any]]:
    """Topics seen, with how many events each had and when the last one came."""
    query = (
        sa.select(
            event.c.topic,
            sa.func.count().label("count"),
            sa.func.max(event.c.published_at).label("last_published_at"),
        )
        .group_by(event.c.topic)
        .order_by(event.c.topic)
        .limit(limit)
    )
    rows = (await conn.execute(query)).mappings().all()
    return [
        {
            "topic": r["topic"],
            "count": int(r["count"]),
            "last_published_at": r["last_published_at"],
        }
        for r in rows
    ]


async def event_prune(conn: AsyncConnection, *, before: datetime) -> int:
    result = await conn.execute(event.delete().where(event.c.published_at < before))
    return int(result.rowcount)
