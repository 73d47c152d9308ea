"""Queries on `agent`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.models import Agent
from ordinaut.store.engine import fetch_row
from ordinaut.store.schema import agent, revoked_token, task


def _to_agent(row: sa.RowMapping | dict[str, Any]) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        scopes=tuple(row["scopes"]),
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def agent_insert(
    conn: AsyncConnection,
    *,
    id: str,
    name: str,
    scopes: Sequence[str],
    key_id: str,
    secret_hash: str,
    now: datetime,
) -> Agent:
    values: dict[str, Any] = {
        "id": id,
        "name": name,
        "scopes": list(scopes),
        "key_id": key_id,
        "secret_hash": secret_hash,
        "active": True,
        "created_at": now,
        "updated_at": now,
    }
    await conn.execute(agent.insert().values(values))
    return Agent(
        id=id, name=name, scopes=tuple(scopes), active=True, created_at=now, updated_at=now
    )


async def agent_count(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(agent))).scalar_one())


async def agent_get(conn: AsyncConnection, agent_id: str) -> Agent | None:
    row = (await conn.execute(sa.select(agent).where(agent.c.id == agent_id))).mappings().first()
    return _to_agent(row) if row else None


async def agent_get_by_name(conn: AsyncConnection, name: str) -> Agent | None:
    row = (await conn.execute(sa.select(agent).where(agent.c.name == name))).mappings().first()
    return _to_agent(row) if row else None


_CREDENTIALS_POSTGRESQL = "SELECT * FROM agent WHERE key_id = %(key_id)s"


async def agent_credentials_by_key_id(
    conn: AsyncConnection, key_id: str
) -> tuple[Agent, str] | None:
    """The agent owning `key_id` and its secret hash, for verifying a presented secret (every
    request with a bare secret runs this, so PostgreSQL runs it on the driver directly)."""
    row: sa.RowMapping | dict[str, Any] | None
    if conn.dialect.name == "postgresql":
        row = await fetch_row(conn, _CREDENTIALS_POSTGRESQL, {"key_id": key_id})
    else:
        query = sa.select(agent).where(agent.c.key_id == key_id)
        row = (await conn.execute(query)).mappings().first()
    return (_to_agent(row), row["secret_hash"]) if row else None


async def agent_credentials_for_token(
    conn: AsyncConnection, key_id: str, revocation_ids: Sequence[str]
) -> tuple[Agent, bool] | None:
    """The agent owning `key_id` and whether any of `revocation_ids` (a token's jti, its
    session) is revoked: what every request with a JWT checks, in one round trip."""
    revoked = sa.exists().where(revoked_token.c.jti.in_(list(revocation_ids)))
    query = sa.select(agent, revoked.label("revoked")).where(agent.c.key_id == key_id)
    row = (await conn.execute(query)).mappings().first()
    return (_to_agent(row), bool(row["revoked"])) if row else None


async def agent_secret_hash(conn: AsyncConnection, agent_id: str) -> str | None:
    query = sa.select(agent.c.secret_hash).where(agent.c.id == agent_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def agent_list(conn: AsyncConnection, *, limit: int, offset: int) -> tuple[list[Agent], int]:
    query = sa.select(agent).order_by(agent.c.created_at, agent.c.id).limit(limit).offset(offset)
    rows = (await conn.execute(query)).mappings().all()
    return [_to_agent(r) for r in rows], await agent_count(conn)


async def agent_update(
    conn: AsyncConnection, agent_id: str, *, now: datetime, **changes: Any
) -> Agent | None:
    query = (
        agent.update()
        .where(agent.c.id == agent_id)
        .values(**changes, updated_at=now)
        .returning(*agent.c)
    )
    row = (await conn.execute(query)).mappings().first()
    return _to_agent(row) if row else None


async def agent_delete(conn: AsyncConnection, agent_id: str) -> bool:
    result = await conn.execute(agent.delete().where(agent.c.id == agent_id))
    return bool(result.rowcount)


async def agent_admin_ids(conn: AsyncConnection, *, lock: bool = False) -> list[str]:
    """Ids of the active admins. `lock` holds their rows (PostgreSQL) until the transaction ends,
    so two admins removing each other at once cannot leave none; SQLite writers are serial."""
    query = sa.select(agent.c.id, agent.c.scopes).where(agent.c.active).order_by(agent.c.id)
    if lock:
        query = query.with_for_update()
    rows = (await conn.execute(query)).all()
    return [r.id for r in rows if "admin" in r.scopes]


async def agent_task_count(conn: AsyncConnection, agent_id: str) -> int:
    """Tasks the agent created: they keep it from being deleted (deactivate it instead)."""
    query = sa.select(sa.func.count()).select_from(task).where(task.c.created_by == agent_id)
    return int((await conn.execute(query)).scalar_one())
