"""Queries on `worker`: the registry of live worker (and scheduler) processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.rows import to_value
from ordinaut.store.schema import worker


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    kind: str
    hostname: str
    pid: int
    version: str
    started_at: datetime
    last_seen_at: datetime
    running: int
    processed: int
    info: dict[str, Any] | None


async def worker_register(conn: AsyncConnection, entry: WorkerInfo) -> None:
    """Insert this process's row (a restarted process with the same id replaces its old row)."""
    await conn.execute(worker.delete().where(worker.c.id == entry.id))
    await conn.execute(worker.insert().values(**entry.__dict__))


async def worker_heartbeat(
    conn: AsyncConnection, worker_id: str, *, now: datetime, running: int, processed: int
) -> bool:
    """Refresh last_seen_at and the counters; False when the row is gone (pruned as stale)."""
    query = (
        worker.update()
        .where(worker.c.id == worker_id)
        .values(last_seen_at=now, running=running, processed=processed)
    )
    return bool((await conn.execute(query)).rowcount)


async def worker_deregister(conn: AsyncConnection, worker_id: str) -> None:
    await conn.execute(worker.delete().where(worker.c.id == worker_id))


async def worker_list(conn: AsyncConnection, *, kind: str | None = None) -> list[WorkerInfo]:
    """Registered processes, oldest first."""
    query = sa.select(worker).order_by(worker.c.started_at, worker.c.id)
    if kind is not None:
        query = query.where(worker.c.kind == kind)
    return [to_value(WorkerInfo, row) for row in (await conn.execute(query)).mappings()]


async def worker_prune_stale(conn: AsyncConnection, *, seen_before: datetime) -> int:
    """Forget processes that stopped heartbeating (killed without deregistering)."""
    query = worker.delete().where(worker.c.last_seen_at < seen_before)
    return int((await conn.execute(query)).rowcount)
