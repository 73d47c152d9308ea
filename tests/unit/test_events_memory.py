"""The in-process bus on a frozen clock: ids, idle times and wake-ups are exact here.

The behaviour it shares with Redis is checked by the two-bus suite in
tests/integration/test_events_redis.py; this file pins what only a frozen clock can show.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ordinaut.core.clock import FrozenClock
from ordinaut.events import ConsumerGroupMissing, InMemoryBus

START = datetime(2024, 1, 1, tzinfo=UTC)  # 1704067200000 ms


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def bus(clock: FrozenClock) -> InMemoryBus:
    return InMemoryBus(clock)


async def test_ids_are_clock_milliseconds_with_a_sequence_within_one(
    bus: InMemoryBus, clock: FrozenClock
) -> None:
    first = await bus.publish("s", "t", {})
    second = await bus.publish("s", "t", {})
    clock.advance(0.001)
    third = await bus.publish("s", "t", {})

    assert [first, second, third] == ["1704067200000-0", "1704067200000-1", "1704067200001-0"]


async def test_ids_keep_increasing_when_the_clock_steps_back(
    bus: InMemoryBus, clock: FrozenClock
) -> None:
    await bus.publish("s", "t", {})
    clock.advance(-5)

    assert await bus.publish("s", "t", {}) == "1704067200000-1"


async def test_autoclaim_uses_idle_time_from_the_clock(
    bus: InMemoryBus, clock: FrozenClock
) -> None:
    await bus.ensure_group("s", "g")
    published = await bus.publish("s", "t", {"n": 1})
    await bus.read_group("s", "g", "dead", block_ms=0)

    clock.advance(0.999)
    assert await bus.autoclaim("s", "g", "alive", min_idle_ms=1000) == []
    clock.advance(0.001)
    claimed = await bus.autoclaim("s", "g", "alive", min_idle_ms=1000)
    assert [m.id for m in claimed] == [published]
    clock.advance(0.5)
    assert await bus.autoclaim("s", "g", "third", min_idle_ms=1000) == []


async def test_autoclaim_respects_count_oldest_first(bus: InMemoryBus) -> None:
    await bus.ensure_group("s", "g")
    published = [await bus.publish("s", "t", {"n": n}) for n in range(5)]
    await bus.read_group("s", "g", "dead", block_ms=0)

    claimed = await bus.autoclaim("s", "g", "alive", min_idle_ms=0, count=2)
    assert [m.id for m in claimed] == published[:2]


async def test_readers_get_copies_not_the_stored_payload(bus: InMemoryBus) -> None:
    data = {"items": [1]}
    await bus.publish("s", "t", data)
    data["items"].append(2)
    (message,) = await bus.recent("s")
    message.data["items"].append(3)

    assert (await bus.recent("s"))[0].data == {"items": [1]}


async def test_deleting_a_stream_ends_a_blocked_group_read(bus: InMemoryBus) -> None:
    await bus.ensure_group("s", "g")
    reader = asyncio.create_task(bus.read_group("s", "g", "c", block_ms=10_000))
    for _ in range(5):  # a few loop turns so the read is blocked, not yet starting
        await asyncio.sleep(0)
    await bus.delete_stream("s")

    with pytest.raises(ConsumerGroupMissing):
        await asyncio.wait_for(reader, timeout=2)


async def test_close_ends_subscriptions(bus: InMemoryBus) -> None:
    received = []

    async def tail() -> None:
        async for message in bus.subscribe("s", last_id="0"):
            received.append(message)

    tailing = asyncio.create_task(tail())
    await bus.publish("s", "t", {})
    for _ in range(100):  # bounded: the tail needs a few loop turns to see the entry
        if received:
            break
        await asyncio.sleep(0.01)
    assert len(received) == 1
    await bus.close()

    await asyncio.wait_for(tailing, timeout=2)


async def test_two_buses_share_nothing(clock: FrozenClock) -> None:
    one, other = InMemoryBus(clock), InMemoryBus(clock)
    await one.publish("s", "t", {})

    assert await other.recent("s") == []
    assert await other.streams("") == []
