"""Agent lifecycle: creation with a one-time secret, rotation, bootstrap of the first admin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.clock import Clock
from ordinaut.core.errors import Conflict, InvalidInput
from ordinaut.core.ids import new_id
from ordinaut.core.models import Agent
from ordinaut.core.states import Scope, values
from ordinaut.services import secrets
from ordinaut.store import agents as agent_store
from ordinaut.store.audit import audit_insert
from ordinaut.store.engine import Store

ALL_SCOPES: tuple[str, ...] = tuple(values(Scope))


@dataclass(frozen=True)
class IssuedAgent:
    """An agent together with its secret: exists only in the response that creates it."""

    agent: Agent
    secret: str


def check_scopes(scopes: Sequence[str]) -> list[str]:
    """Known scopes, plus `ext:<id>:routes` for extensions; anything else is refused."""
    problems = [
        s
        for s in scopes
        if s not in ALL_SCOPES and not (s.startswith("ext:") and s.endswith(":routes"))
    ]
    if problems:
        raise InvalidInput.at(
            ("body", "scopes"),
            f"unknown scope(s): {', '.join(problems)}; "
            f"known: {', '.join(ALL_SCOPES)}, ext:<id>:routes",
        )
    return list(dict.fromkeys(scopes))


async def create_agent(
    conn: AsyncConnection,
    *,
    name: str,
    scopes: Sequence[str],
    clock: Clock,
    actor: str | None = None,
    secret: str | None = None,
    request_id: str | None = None,
) -> IssuedAgent:
    """Insert an agent and its audit row; `secret` lets operators fix the bootstrap secret."""
    scopes = check_scopes(scopes)
    if await agent_store.agent_get_by_name(conn, name) is not None:
        raise Conflict(f"an agent named {name!r} already exists")
    key_id, fresh = secrets.new_secret()
    if secret is not None:
        key_id = secrets.key_id_of(secret) or key_id
        fresh = secret
    now = clock.now()
    agent = await agent_store.agent_insert(
        conn,
        id=new_id(),
        name=name,
        scopes=scopes,
        key_id=key_id,
        secret_hash=secrets.hash_secret(fresh),
        now=now,
    )
    await audit_insert(
        conn,
        actor=actor,
        action="agent.create",
        subject_type="agent",
        subject_id=agent.id,
        details={"name": name, "scopes": scopes},
        request_id=request_id,
        now=now,
    )
    return IssuedAgent(agent, fresh)


async def bootstrap_admin(store: Store, clock: Clock, secret: str | None) -> IssuedAgent | None:
    """Create the `admin` agent when there is no agent at all; None when one exists already."""
    if secret is not None and secrets.key_id_of(secret) is None:
        raise InvalidInput.at(
            ("env", "ORDINAUT_ADMIN_SECRET"),
            "ORDINAUT_ADMIN_SECRET must look like ord_<16 hex>_<random>; "
            "generate one with `ordinaut agent secret`",
        )
    async with store.transaction() as conn:
        if await agent_store.agent_count(conn) > 0:
            return None
        return await create_agent(conn, name="admin", scopes=ALL_SCOPES, clock=clock, secret=secret)
