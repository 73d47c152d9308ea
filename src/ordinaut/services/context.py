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
from ordinaut.store.announce import Announcement, announce
from ordinaut.store.channels import OUTBOX_PENDING
from ordinaut.store.engine import Store

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

    `audit`, `emit` and `wake` only collect; the announcement is written just before the
    commit (`ordinaut.store.announce`: on PostgreSQL one statement however much it says), or
    earlier by the write that `carry()` hands it to. Events keep the order they were emitted in.
    """

    conn: AsyncConnection
    now: Any
    actor: Actor
    pending: Announcement = field(init=False)
    channels: set[str] = field(default_factory=set)  # woken in this process after the commit

    def __post_init__(self) -> None:
        self.pending = self._fresh()

    def _fresh(self) -> Announcement:
        return Announcement(self.actor.agent_id, self.actor.request_id, self.now)

    async def audit(
        self, action: str, subject_type: str, subject_id: str | None, details: dict[str, Any]
    ) -> None:
        self.pending.audit(action, subject_type, subject_id, details)

    async def emit(
        self, event_type: str, payload: dict[str, Any], task_id: str | None = None
    ) -> None:
        self.pending.events.append((event_type, task_id, payload))
        self.wake(OUTBOX_PENDING)

    def wake(self, channel: str) -> None:
        self.pending.channels.add(channel)
        self.channels.add(channel)

    def carry(self) -> Announcement:
        """What was collected so far, for a store write to carry in its own statement; what
        is collected afterwards is announced at the commit as usual."""
        carried, self.pending = self.pending, self._fresh()
        return carried

    async def announce(self) -> None:
        await announce(self.conn, self.carry())


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
        self._wake(uow)

    @asynccontextmanager
    async def single_write(self, actor: Actor) -> AsyncIterator[UnitOfWork]:
        """A unit of work that is one write carrying its whole announcement (`carry()`): on
        PostgreSQL one statement in autocommit, so no BEGIN and no COMMIT round trips; on
        SQLite an ordinary transaction."""
        if not self.store.is_postgres:
            async with self.unit_of_work(actor) as uow:
                yield uow
            return
        async with self.store.read() as conn:
            uow = UnitOfWork(conn, self.clock.now(), actor)
            yield uow
            if uow.pending:
                raise RuntimeError("a single write must carry everything its unit announces")
        self._wake(uow)

    def _wake(self, uow: UnitOfWork) -> None:
        for channel in uow.channels:
            self.signal(channel).set()
