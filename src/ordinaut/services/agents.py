"""Agent lifecycle: creation with a one-time secret, rotation, bootstrap of the first admin.

Rules every caller (REST, CLI) gets: names are unique, scopes are known ones, an agent cannot
delete or deactivate itself, and the last active admin cannot be removed, deactivated or lose
`admin`. Each change writes its audit row in its own transaction; secrets never reach the audit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.clock import Clock
from ordinaut.core.errors import Conflict, InvalidInput, NotFound
from ordinaut.core.ids import new_id
from ordinaut.core.models import Agent
from ordinaut.core.states import Scope, values
from ordinaut.services import secrets
from ordinaut.services.context import Actor, ServiceContext
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


@dataclass(frozen=True)
class AgentChanges:
    """`PUT /agents/{id}`: only the fields given change."""

    name: str | None = None
    scopes: Sequence[str] | None = None
    active: bool | None = None


async def register_agent(
    ctx: ServiceContext,
    actor: Agent,
    *,
    name: str,
    scopes: Sequence[str],
    request_id: str | None = None,
) -> IssuedAgent:
    """`create_agent` on behalf of an admin; a name taken by a concurrent request is a 409."""
    try:
        async with ctx.store.transaction() as conn:
            return await create_agent(
                conn,
                name=name,
                scopes=scopes,
                clock=ctx.clock,
                actor=actor.id,
                request_id=request_id,
            )
    except IntegrityError:
        raise Conflict(f"an agent named {name!r} already exists") from None


async def list_agents(ctx: ServiceContext, *, limit: int, offset: int) -> tuple[list[Agent], int]:
    async with ctx.store.connect() as conn:
        return await agent_store.agent_list(conn, limit=limit, offset=offset)


async def get_agent(ctx: ServiceContext, agent_id: str) -> Agent:
    async with ctx.store.connect() as conn:
        return _found(await agent_store.agent_get(conn, agent_id), agent_id)


def _found(agent: Agent | None, agent_id: str) -> Agent:
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return agent


async def _keep_an_admin(conn: AsyncConnection, leaving: str) -> None:
    if not [i for i in await agent_store.agent_admin_ids(conn, lock=True) if i != leaving]:
        raise Conflict("that would leave no active admin; make another agent admin first")


async def _changed_values(
    conn: AsyncConnection, current: Agent, changes: AgentChanges
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if changes.name is not None and changes.name != current.name:
        if await agent_store.agent_get_by_name(conn, changes.name) is not None:
            raise Conflict(f"an agent named {changes.name!r} already exists")
        values["name"] = changes.name
    if changes.scopes is not None:
        values["scopes"] = check_scopes(changes.scopes)
    if changes.active is not None and changes.active != current.active:
        values["active"] = changes.active
    return values


async def update_agent(
    ctx: ServiceContext,
    actor: Agent,
    agent_id: str,
    changes: AgentChanges,
    request_id: str | None = None,
) -> Agent:
    """Rename, re-scope or (de)activate an agent. Scope changes apply to its live tokens too."""
    async with ctx.unit_of_work(Actor(actor.id, request_id)) as uow:
        current = _found(await agent_store.agent_get(uow.conn, agent_id), agent_id)
        values = await _changed_values(uow.conn, current, changes)
        if values.get("active") is False and agent_id == actor.id:
            raise Conflict("an agent cannot deactivate itself")
        scopes = values.get("scopes", current.scopes)
        stays_admin = "admin" in scopes and bool(values.get("active", current.active))
        if current.is_admin and current.active and not stays_admin:
            await _keep_an_admin(uow.conn, agent_id)
        if not values:
            return current
        updated = await agent_store.agent_update(uow.conn, agent_id, now=uow.now, **values)
        await uow.audit("agent.update", "agent", agent_id, {"changes": values})
        return _found(updated, agent_id)


async def delete_agent(
    ctx: ServiceContext, actor: Agent, agent_id: str, request_id: str | None = None
) -> Agent:
    """Delete an agent that owns no tasks (their history would dangle: deactivate it instead)."""
    if agent_id == actor.id:
        raise Conflict("an agent cannot delete itself")
    async with ctx.unit_of_work(Actor(actor.id, request_id)) as uow:
        current = _found(await agent_store.agent_get(uow.conn, agent_id), agent_id)
        if current.is_admin and current.active:
            await _keep_an_admin(uow.conn, agent_id)
        owned = await agent_store.agent_task_count(uow.conn, agent_id)
        if owned:
            raise Conflict(
                f"agent {current.name!r} owns {owned} task(s); delete them first, "
                'or deactivate the agent with PUT {"active": false}'
            )
        await agent_store.agent_delete(uow.conn, agent_id)
        await uow.audit("agent.delete", "agent", agent_id, {"name": current.name})
        return current


async def rotate_secret(
    ctx: ServiceContext, actor: Agent, agent_id: str, request_id: str | None = None
) -> IssuedAgent:
    """A new secret (returned once); the old one and every JWT minted from it stop working."""
    key_id, fresh = secrets.new_secret()
    secret_hash = await asyncio.to_thread(secrets.hash_secret, fresh)  # slow: not in the txn
    async with ctx.unit_of_work(Actor(actor.id, request_id)) as uow:
        updated = await agent_store.agent_update(
            uow.conn, agent_id, now=uow.now, key_id=key_id, secret_hash=secret_hash
        )
        agent = _found(updated, agent_id)
        await uow.audit("agent.rotate_secret", "agent", agent_id, {"name": agent.name})
    return IssuedAgent(agent, fresh)
