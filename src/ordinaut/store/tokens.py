"""Queries on `revoked_token`: revocation is stored so every API process honours it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.schema import revoked_token


async def revoked_token_insert(
    conn: AsyncConnection,
    *,
    jti: str,
    agent_id: str | None,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Record a revocation; False when `jti` was already revoked (a refresh token spent twice)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    query = (
        dialect.insert(revoked_token)
        .values(jti=jti, agent_id=agent_id, expires_at=expires_at, revoked_at=now)
        .on_conflict_do_nothing(index_elements=["jti"])
        .returning(revoked_token.c.jti)  # rowcount is not reliable for a skipped row
    )
    return (await conn.execute(query)).first() is not None


async def revoked_token_exists(conn: AsyncConnection, jti: str) -> bool:
    query = sa.select(revoked_token.c.jti).where(revoked_token.c.jti == jti)
    return (await conn.execute(query)).first() is not None


async def revoked_token_any(conn: AsyncConnection, ids: Sequence[str]) -> bool:
    """Whether any of `ids` (a token's jti, its session id) has been revoked."""
    query = sa.select(revoked_token.c.jti).where(revoked_token.c.jti.in_(list(ids))).limit(1)
    return (await conn.execute(query)).first() is not None


async def revoked_token_prune(conn: AsyncConnection, *, now: datetime) -> int:
    result = await conn.execute(revoked_token.delete().where(revoked_token.c.expires_at < now))
    return int(result.rowcount)
