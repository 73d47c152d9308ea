"""Relays in several processes take turns: while one has a batch out, the others relay
nothing, so events reach the bus once each and in outbox order (PostgreSQL's advisory lock,
taken by the read of the batch itself)."""

from __future__ import annotations

import asyncio
from typing import Any

from ordinaut.core.clock import SystemClock
from ordinaut.events.memory import InMemoryBus
from ordinaut.services.relay import OutboxRelay
from ordinaut.store.engine import Store
from ordinaut.store.outbox import CORE_STREAM, outbox_insert_many


class HeldBus(InMemoryBus):
    """A real in-memory bus whose first publish waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.publishing = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(
        self, stream: str, type: str, data: dict[str, Any], *, maxlen: int | None = None
    ) -> str:
        self.publishing.set()
        await self.release.wait()
        return await super().publish(stream, type, data, maxlen=maxlen)


async def test_a_second_relay_waits_while_the_first_has_a_batch_out(pg_url: str) -> None:
    clock = SystemClock()
    first_store, second_store = Store(pg_url), Store(pg_url)  # two processes' pools
    held, other = HeldBus(), InMemoryBus()
    try:
        async with first_store.transaction() as conn:
            events = [("t", None, {"n": n}) for n in range(5)]
            await outbox_insert_many(conn, events, clock.now())
        first = OutboxRelay(first_store, held, clock)
        second = OutboxRelay(second_store, other, clock)
        out = asyncio.create_task(first.relay_once())
        await asyncio.wait_for(held.publishing.wait(), timeout=10)
        assert await second.relay_once() == 0, "the turn is taken"
        held.release.set()
        assert await out == 5
        assert await second.relay_once() == 0, "nothing left to relay"
        published = [m.data["n"] for m in await held.recent(CORE_STREAM, 10)]
        assert sorted(published) == [0, 1, 2, 3, 4]
        assert await other.recent(CORE_STREAM, 10) == []
    finally:
        await first_store.dispose()
        await second_store.dispose()
