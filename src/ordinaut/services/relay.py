"""The outbox relay: moves events written with database changes onto the event bus.

Rows are published in id order, which keeps every task's events in order, and marked relayed
only after the bus accepted them. While the bus is down rows wait in the outbox; nothing is lost,
and the API keeps accepting work.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import structlog

from ordinaut.core.clock import Clock
from ordinaut.core.loops import LoopComponent
from ordinaut.events import EventBus
from ordinaut.events.bus import EventBusUnavailable
from ordinaut.store import outbox
from ordinaut.store.engine import Store

log = structlog.get_logger("ordinaut.relay")
STREAM_MAXLEN = 100_000
MAX_RETRY_SECONDS = 10.0
"""Longest wait between attempts while the bus is down."""


@dataclass
class OutboxRelay(LoopComponent):
    loop_name: ClassVar[str] = "ordinaut-outbox-relay"
    store: Store
    bus: EventBus
    clock: Clock
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    batch_size: int = 500
    idle_seconds: float = 1.0
    coalesce_seconds: float = 0.02
    retention: timedelta = timedelta(hours=1)
    # relayed rows are kept `retention`, so deleting them once a minute is soon enough; pruning
    # after every batch cost a transaction per event-writing commit
    prune_every: timedelta = timedelta(minutes=1)
    _pruned_at: datetime | None = None
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def relay_once(self) -> int:
        """Publish one batch; returns how many were relayed (0 when idle or another relay is).

        One relay at a time, so order holds. PostgreSQL: the batch is read, published and
        marked in one transaction holding an advisory lock (taken by the read itself), across
        processes. SQLite: this relay's own lock (its deployment is one process with one relay);
        never SQLite's write lock, which every API request needs while a publish waits on a
        slow or hanging bus. A failed publish ends the batch and is raised once the rows the
        bus already took are marked and committed, so they are not sent again.
        """
        if self.store.is_postgres:
            async with self.store.transaction() as conn:
                pending = await outbox.outbox_pending(conn, limit=self.batch_size, exclusive=True)
                done, failure = await self._publish(pending)
                await outbox.outbox_mark_relayed(conn, done, self.clock.now())
        else:
            async with self._lock:
                async with self.store.connect() as conn:
                    pending = await outbox.outbox_pending(conn, limit=self.batch_size)
                done, failure = await self._publish(pending)
                if done:
                    async with self.store.transaction() as conn:
                        await outbox.outbox_mark_relayed(conn, done, self.clock.now())
        if failure is not None:
            raise failure
        return len(done)

    async def _publish(self, rows: list[dict[str, Any]]) -> tuple[list[int], Exception | None]:
        """Publish rows in order until one fails; the ids the bus took, and the failure."""
        events = [
            (
                row["stream"],
                row["event_type"],
                row["payload"] | {"occurred_at": row["created_at"].isoformat()},
            )
            for row in rows
        ]
        outcome = await self.bus.publish_many(events, maxlen=STREAM_MAXLEN)
        return [row["id"] for row in rows[: len(outcome.ids)]], outcome.error

    async def run(self) -> None:
        delay = self.idle_seconds
        while not self._stopping:
            self.wakeup.clear()
            try:
                if await self.relay_once() == self.batch_size:
                    continue
                delay = self.idle_seconds
                await self._prune()
            except EventBusUnavailable as exc:
                log.warning("relay.bus_unavailable", error=str(exc))
                delay = min(delay * 2, MAX_RETRY_SECONDS)
            except Exception as exc:  # keep relaying whatever one batch did
                log.error("relay.failed", error=str(exc))
                delay = min(delay * 2, MAX_RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=delay)
            # let a stream of commits coalesce: one relay pass per interval, not per request
            await asyncio.sleep(self.coalesce_seconds)

    async def _prune(self) -> None:
        """Delete rows relayed more than `retention` ago, at most once per `prune_every`."""
        now = self.clock.now()
        if self._pruned_at is not None and now - self._pruned_at < self.prune_every:
            return
        async with self.store.transaction() as conn:
            await outbox.outbox_prune(conn, before=now - self.retention)
        self._pruned_at = now
