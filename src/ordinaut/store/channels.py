"""Wake-up channels: NOTIFY on PostgreSQL, delivered when the transaction commits."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

TASKS_CHANGED = "ordinaut_tasks"
WORK_AVAILABLE = "ordinaut_work"
OUTBOX_PENDING = "ordinaut_outbox"


async def channel_notify(conn: AsyncConnection, channel: str, payload: str = "") -> None:
    """Queue a NOTIFY in this transaction (PostgreSQL); SQLite has no such thing, callers use an
    in-process signal there."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_notify(channel, payload)))
