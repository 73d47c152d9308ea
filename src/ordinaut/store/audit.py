"""Queries on `audit_log`: written in the same transaction as the change they record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.schema import audit_log


async def audit_insert(
    conn: AsyncConnection,
    *,
    actor: str | None,
    action: str,
    subject_type: str,
    subject_id: str | None,
    details: dict[str, Any],
    request_id: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=details,
            request_id=request_id,
            created_at=now,
        )
    )


async def audit_list(
    conn: AsyncConnection,
    *,
    limit: int,
    offset: int,
    actor: str | None = None,
    action: str | None = None,
    subject_id: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    where = []
    if actor:
        where.append(audit_log.c.actor == actor)
    if action:
        where.append(audit_log.c.action == action)
    if subject_id:
        where.append(audit_log.c.subject_id == subject_id)
    query = (
        sa.select(audit_log)
        .where(*where)
        .order_by(audit_log.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await conn.execute(query)).mappings().all()
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(*where))
    ).scalar_one()
    return [dict(r) for r in rows], int(total)
