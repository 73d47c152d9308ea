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
from ordinaut.store.audit import audit_insert
from ordinaut.store.channels import OUTBOX_PENDING, channel_notify
from ordinaut.store.engine import Store
from ordinaut.store.outbox import outbox_insert

if TYPE_CHECKING:
    from ordinaut.pipeline.registry import ToolRegistry


@dataclass
class Actor:
    """Who is acting: an agent id (None for the system) and the request that carries it."""

    agent_id: str | None
    request_id: str | None = None


@dataclass
class UnitOfWork:
    """One transaction plus what it announces: audit rows, outbox events, wake-ups on commit."""

    conn: AsyncConnection
    now: Any
    actor: Actor
    channels: set[str] = field(default_factory=set)

    async def audit(
        self, action: str, subject_type: str, subject_id: str | None, details: dict[str, Any]
    ) -> None:
        await audit_insert(
            self.conn,
            actor=self.actor.agent_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=details,
            request_id=self.actor.request_id,
            now=self.now,
        )

    async def emit(
        self, event_type: str, payload: dict[str, Any], task_id: str | None = None
    ) -> None:
        await outbox_insert(
            self.conn, event_type=event_type, payload=payload, now=self.now, task_id=task_id
        )
        self.channels.add(OUTBOX_PENDING)

    def wake(self, channel: str) -> None:
        self.channels.add(channel)


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
            for channel in uow.channels - {OUTBOX_PENDING}:  # the relay polls other processes
                await channel_notify(conn, channel)
        for channel in uow.channels:
            self.signal(channel).set()
