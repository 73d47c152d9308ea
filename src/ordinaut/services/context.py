"""What every service operation needs, built once per process and passed in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.clock import Clock
from ordinaut.core.settings import Settings
from ordinaut.store.bulk import driver_of, json_rows
from ordinaut.store.channels import OUTBOX_PENDING
from ordinaut.store.engine import Store
from ordinaut.store.outbox import (
    CORE_STREAM,
    OutboxEvent,
    outbox_insert_many,
    outbox_insert_select,
)
from ordinaut.store.schema import audit_log

if TYPE_CHECKING:
    from ordinaut.pipeline.registry import ToolRegistry


@dataclass
class Actor:
    """Who is acting: an agent id (None for the system) and the request that carries it."""

    agent_id: str | None
    request_id: str | None = None


@dataclass
class UnitOfWork:
    """One transaction plus what it announces: audit rows, outbox events, wake-ups on commit.

    `audit` and `emit` only collect; `announce` writes them all just before the commit, on
    PostgreSQL in one statement with the NOTIFYs, so what a change announces costs one round
    trip however much it says. Events keep the order they were emitted in.
    """

    conn: AsyncConnection
    now: Any
    actor: Actor
    channels: set[str] = field(default_factory=set)
    audits: list[dict[str, Any]] = field(default_factory=list)
    events: list[OutboxEvent] = field(default_factory=list)

    async def audit(
        self, action: str, subject_type: str, subject_id: str | None, details: dict[str, Any]
    ) -> None:
        self.audits.append(
            {
                "actor": self.actor.agent_id,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "details": details,
            }
        )

    async def emit(
        self, event_type: str, payload: dict[str, Any], task_id: str | None = None
    ) -> None:
        self.events.append((event_type, task_id, payload))
        self.channels.add(OUTBOX_PENDING)

    def wake(self, channel: str) -> None:
        self.channels.add(channel)

    async def announce(self) -> None:
        """Write the collected audit rows and events, and queue the NOTIFYs (the relay polls
        other processes, so the outbox needs none)."""
        notify = sorted(self.channels - {OUTBOX_PENDING})
        if not (self.audits or self.events or notify):
            return
        if self.conn.dialect.name == "postgresql":
            await _announce_postgresql(self, notify)
        else:
            if self.audits:
                rows = [row | self._audit_columns() for row in self.audits]
                await self.conn.execute(audit_log.insert(), rows)
            await outbox_insert_many(self.conn, self.events, self.now)
        self.audits, self.events = [], []

    def _audit_columns(self) -> dict[str, Any]:
        return {"request_id": self.actor.request_id, "created_at": self.now}


_AUDIT_ROWS = """
    INSERT INTO audit_log (actor, action, subject_type, subject_id, details, request_id,
                           created_at)
    SELECT actor, action, subject_type, subject_id, details, %(request_id)s, %(outbox_created_at)s
    FROM ROWS FROM (jsonb_to_recordset(%(audits)s::jsonb)
                    AS (actor text, action text, subject_type text, subject_id text,
                        details jsonb))
         WITH ORDINALITY AS a(actor, action, subject_type, subject_id, details, n)
    ORDER BY n
"""
_EVENT_ROWS = """
    SELECT event_type, task_id, payload
    FROM ROWS FROM (jsonb_to_recordset(%(events)s::jsonb)
                    AS (event_type text, task_id text, payload jsonb))
         WITH ORDINALITY AS e(event_type, task_id, payload, n)
    ORDER BY n
"""
# data-modifying CTEs always run to completion, read or not
_ANNOUNCE_POSTGRESQL = (
    f"WITH audit AS ({_AUDIT_ROWS}), events AS ({outbox_insert_select(_EVENT_ROWS)}) "
    "SELECT pg_notify(channel, '') FROM unnest(%(channels)s::text[]) AS channel"
)


async def _announce_postgresql(uow: UnitOfWork, channels: list[str]) -> None:
    events = [{"event_type": k, "task_id": t, "payload": p} for k, t, p in uow.events]
    params = {
        "audits": json_rows(uow.audits),
        "events": json_rows(events),
        "channels": channels,
        "request_id": uow.actor.request_id,
        "outbox_stream": CORE_STREAM,
        "outbox_created_at": uow.now,
    }
    await (await driver_of(uow.conn)).execute(_ANNOUNCE_POSTGRESQL, params)


@dataclass
class ServiceContext:
    settings: Settings
    store: Store
    clock: Clock
    registry: ToolRegistry
    signals: dict[str, asyncio.Event] = field(default_factory=dict)

    def signal(self, channel: str) -> asyncio.Event:
        """The in-process wake-up for `channel` (the embedded scheduler and worker wait on it)."""
        return self.signals.setdefault(channel, asyncio.Event())

    @asynccontextmanager
    async def unit_of_work(self, actor: Actor) -> AsyncIterator[UnitOfWork]:
        async with self.store.transaction() as conn:
            uow = UnitOfWork(conn, self.clock.now(), actor)
            yield uow
            await uow.announce()
        for channel in uow.channels:
            self.signal(channel).set()
