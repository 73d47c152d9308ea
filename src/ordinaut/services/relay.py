"""The outbox relay: moves events written with database changes onto the event bus.

Rows are published in id order, which keeps every task's events in order, and marked relayed
only after the bus accepted them. While the bus is down rows wait in the outbox; nothing is lost,
and the API keeps accepting work.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from ordinaut.core.clock import Clock
from ordinaut.events import EventBus
from ordinaut.events.bus import EventBusUnavailable
from ordinaut.store import outbox
from ordinaut.store.engine import Store

log = structlog.get_logger("ordinaut.relay")
STREAM_MAXLEN = 100_000


@dataclass
class OutboxRelay:
    store: Store
    bus: EventBus
    clock: Clock
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    batch_size: int = 500
    idle_seconds: float = 1.0
    retention: timedelta = timedelta(hours=1)
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False

    async def relay_once(self) -> int:
        """Publish one batch; returns how many were relayed (0 when idle or another relay is)."""
        async with self.store.transaction() as conn:
            if not await outbox.outbox_relay_lock(conn):
                return 0
            pending = await outbox.outbox_pending(conn, limit=self.batch_size)
            done: list[int] = []
            try:
                for row in pending:
                    data = dict(row["payload"]) | {"occurred_at": row["created_at"].isoformat()}
                    await self.bus.publish(
                        row["stream"], row["event_type"], data, maxlen=STREAM_MAXLEN
                    )
                    done.append(row["id"])
            finally:  # what the bus took is marked even if a later publish failed
                await outbox.outbox_mark_relayed(conn, done, self.clock.now())
        return len(done)

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
                delay = min(delay * 2, 30.0)
            except Exception as exc:  # keep relaying whatever one batch did
                log.error("relay.failed", error=str(exc))
                delay = min(delay * 2, 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=delay)

    async def _prune(self) -> None:
        async with self.store.transaction() as conn:
            await outbox.outbox_prune(conn, before=self.clock.now() - self.retention)

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="ordinaut-outbox-relay")

    async def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
