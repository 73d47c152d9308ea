"""One suite, two buses: the Redis Streams bus (real Redis at 127.0.0.1:6379) and its
in-process twin must behave the same. Each test works under its own stream prefix and deletes
its streams afterwards, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from ordinaut.events import (
    BusMessage,
    ConsumerGroupMissing,
    EventBus,
    EventBusUnavailable,
    InMemoryBus,
    RedisStreamsBus,
    create_bus,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
ID_FORMAT = re.compile(r"^\d+-\d+$")


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = 5.0, every: float = 0.02
) -> None:
    """Poll `check` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.redis)],
)
async def bus(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[EventBus]:
    made: EventBus = InMemoryBus() if request.param == "memory" else RedisStreamsBus(REDIS_URL)
    try:
        yield made
    finally:
        for name in await made.streams(prefix):
            await made.delete_stream(name)
        await made.close()


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:10]}:"


def ids_of(messages: list[BusMessage]) -> list[str]:
    return [m.id for m in messages]


def id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


async def publish_many(bus: EventBus, stream: str, count: int) -> list[str]:
    return [await bus.publish(stream, "tick", {"n": n}) for n in range(count)]


async def test_publish_round_trips_json_and_recent_is_newest_first(
    bus: EventBus, prefix: str
) -> None:
    stream = prefix + "orders"
    payload = {"total": 120.5, "items": [{"sku": "a-1", "qty": 2}], "note": "café ✓", "ok": None}
    first = await bus.publish(stream, "order.created", payload)
    second = await bus.publish(stream, "order.paid", {"id": 7})

    assert ID_FORMAT.match(first)
    assert ID_FORMAT.match(second)
    assert id_key(second) > id_key(first)
    recent = await bus.recent(stream)
    assert recent == [
        BusMessage(second, stream, "order.paid", {"id": 7}),
        BusMessage(first, stream, "order.created", payload),
    ]
    assert ids_of(await bus.recent(stream, count=1)) == [second]


async def test_payload_that_is_not_json_is_refused(bus: EventBus, prefix: str) -> None:
    with pytest.raises(TypeError):
        await bus.publish(prefix + "s", "bad", {"when": object()})
    assert await bus.recent(prefix + "s") == []


async def test_a_batch_is_published_in_order_up_to_its_first_failure(
    bus: EventBus, prefix: str
) -> None:
    a, b = prefix + "a", prefix + "b"
    events = [(a, "t", {"n": 0}), (a, "t", {"n": 1}), (b, "t", {"n": 2}), (a, "t", {"n": 3})]
    outcome = await bus.publish_many(events)
    assert outcome.error is None
    assert [m.id for m in reversed(await bus.recent(a))] == [outcome.ids[i] for i in (0, 1, 3)]
    assert [m.data["n"] for m in await bus.recent(b)] == [2]

    stopped = await bus.publish_many(
        [(b, "t", {"n": 4}), (a, "t", {"bad": object()}), (b, "t", {})]
    )
    assert isinstance(stopped.error, TypeError)
    assert len(stopped.ids) == 1, "only the event before the failure"
    assert [m.data["n"] for m in await bus.recent(b)] == [4, 2]
    assert len(await bus.recent(a)) == 3


async def test_two_consumers_in_a_group_split_the_stream(bus: EventBus, prefix: str) -> None:
    stream = prefix + "work"
    await bus.ensure_group(stream, "workers")
    published = await publish_many(bus, stream, 40)
    seen: dict[str, list[str]] = {"c1": [], "c2": []}

    async def consume(consumer: str) -> None:
        while len(seen["c1"]) + len(seen["c2"]) < len(published):
            batch = await bus.read_group(stream, "workers", consumer, count=1, block_ms=100)
            seen[consumer].extend(ids_of(batch))
            if batch:
                assert await bus.ack(stream, "workers", *ids_of(batch)) == len(batch)

    await asyncio.wait_for(asyncio.gather(consume("c1"), consume("c2")), timeout=10)

    assert seen["c1"], "both consumers should get a share"
    assert seen["c2"], "both consumers should get a share"
    assert not set(seen["c1"]) & set(seen["c2"]), "no message goes to two consumers"
    assert sorted(seen["c1"] + seen["c2"], key=id_key) == published


async def test_group_start_dollar_sees_only_new_and_zero_sees_all(
    bus: EventBus, prefix: str
) -> None:
    stream = prefix + "s"
    old = await bus.publish(stream, "old", {})
    await bus.ensure_group(stream, "late")
    await bus.ensure_group(stream, "replay", start="0")
    await bus.ensure_group(stream, "late", start="0")  # exists: left as it is
    new = await bus.publish(stream, "new", {})

    assert ids_of(await bus.read_group(stream, "late", "c", block_ms=0)) == [new]
    assert ids_of(await bus.read_group(stream, "replay", "c", block_ms=0)) == [old, new]
    assert await bus.read_group(stream, "replay", "c", block_ms=0) == []


async def test_unacked_message_of_a_dead_consumer_is_claimed_by_another(
    bus: EventBus, prefix: str
) -> None:
    stream = prefix + "jobs"
    await bus.ensure_group(stream, "g")
    published = await publish_many(bus, stream, 3)
    taken = await bus.read_group(stream, "g", "doomed", count=10, block_ms=0)
    assert ids_of(taken) == published
    assert await bus.ack(stream, "g", published[0]) == 1
    # "doomed" dies here; its two unacked messages stay pending under its name.

    assert await bus.autoclaim(stream, "g", "rescuer", min_idle_ms=60_000) == []
    assert await bus.read_group(stream, "g", "rescuer", block_ms=0) == []  # `>` never re-sends
    claimed: list[BusMessage] = []

    async def rescued() -> bool:
        claimed.extend(await bus.autoclaim(stream, "g", "rescuer", min_idle_ms=150))
        return bool(claimed)

    await wait_until(rescued)
    assert ids_of(claimed) == published[1:]
    assert [m.data for m in claimed] == [{"n": 1}, {"n": 2}]
    # A claim resets the idle time, so nobody else takes them at once.
    assert await bus.autoclaim(stream, "g", "third", min_idle_ms=150) == []
    assert await bus.ack(stream, "g", *ids_of(claimed)) == 2
    assert await bus.ack(stream, "g", *ids_of(claimed)) == 0
    assert await bus.autoclaim(stream, "g", "third", min_idle_ms=0) == []


async def test_autoclaim_skips_entries_trimmed_away(bus: EventBus, prefix: str) -> None:
    stream = prefix + "s"
    await bus.ensure_group(stream, "g")
    published = await publish_many(bus, stream, 3)
    await bus.read_group(stream, "g", "dead", block_ms=0)
    assert await bus.trim(stream, 1) == 2

    assert ids_of(await bus.autoclaim(stream, "g", "alive", min_idle_ms=0)) == [published[2]]


async def test_trim_keeps_exactly_the_newest(bus: EventBus, prefix: str) -> None:
    stream = prefix + "s"
    published = await publish_many(bus, stream, 10)

    assert await bus.trim(stream, 3) == 7
    assert ids_of(await bus.recent(stream, 100)) == published[:-4:-1]
    assert await bus.trim(stream, 3) == 0


async def test_publish_with_maxlen_retains_at_least_maxlen_newest(
    bus: EventBus, prefix: str
) -> None:
    stream = prefix + "retained"
    published = [await bus.publish(stream, "t", {"n": n}, maxlen=50) for n in range(300)]

    kept = await bus.recent(stream, 1000)
    assert 50 <= len(kept) < 300, "approximate MAXLEN trims, keeping at least maxlen"
    assert ids_of(kept) == published[: -len(kept) - 1 : -1]


async def test_read_group_waits_for_a_message_until_its_block_timeout(
    bus: EventBus, prefix: str
) -> None:
    stream = prefix + "s"
    await bus.ensure_group(stream, "g")

    started = time.monotonic()
    assert await bus.read_group(stream, "g", "c", block_ms=200) == []
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    assert await bus.read_group(stream, "g", "c", block_ms=0) == []
    assert time.monotonic() - started < 0.15

    reader = asyncio.create_task(bus.read_group(stream, "g", "c", block_ms=5000))
    await asyncio.sleep(0.05)  # a head start so the read is blocked before the publish
    published = await bus.publish(stream, "wake", {})
    started = time.monotonic()
    assert ids_of(await asyncio.wait_for(reader, timeout=3)) == [published]
    assert time.monotonic() - started < 2


async def test_group_operations_on_a_missing_group(bus: EventBus, prefix: str) -> None:
    stream = prefix + "s"
    with pytest.raises(ConsumerGroupMissing):
        await bus.read_group(stream, "nobody", "c", block_ms=0)
    await bus.publish(stream, "t", {})
    with pytest.raises(ConsumerGroupMissing):
        await bus.autoclaim(stream, "nobody", "c", min_idle_ms=0)
    assert await bus.ack(stream, "nobody", "1-0") == 0


async def test_streams_lists_by_prefix_and_delete_removes(bus: EventBus, prefix: str) -> None:
    await bus.publish(prefix + "b", "t", {})
    await bus.publish(prefix + "a", "t", {})
    await bus.ensure_group(prefix + "c", "g")  # creates an empty stream
    await bus.publish(prefix.rstrip(":") + "-other:x", "t", {})

    assert await bus.streams(prefix) == [prefix + "a", prefix + "b", prefix + "c"]
    await bus.delete_stream(prefix + "a")
    await bus.delete_stream(prefix + "a")  # missing: no error
    assert await bus.streams(prefix) == [prefix + "b", prefix + "c"]
    assert await bus.recent(prefix + "a") == []
    with pytest.raises(ConsumerGroupMissing):
        await bus.read_group(prefix + "a", "g", "c", block_ms=0)
    await bus.delete_stream(prefix.rstrip(":") + "-other:x")


async def test_streams_prefix_is_literal_not_a_glob(bus: EventBus, prefix: str) -> None:
    await bus.publish(prefix + "a*b", "t", {})
    await bus.publish(prefix + "axb", "t", {})

    assert await bus.streams(prefix + "a*") == [prefix + "a*b"]


async def test_subscribe_tails_from_now_and_from_an_id(bus: EventBus, prefix: str) -> None:
    stream = prefix + "live"
    old = await bus.publish(stream, "old", {})
    received: list[BusMessage] = []

    async def tail() -> None:
        async for message in bus.subscribe(stream):
            received.append(message)

    tailing = asyncio.create_task(tail())
    sent: list[str] = []

    async def got_one() -> bool:
        sent.append(await bus.publish(stream, "new", {"n": len(sent)}))
        return bool(received)

    try:
        await wait_until(got_one)
        first = sent.index(received[0].id)

        async def caught_up() -> bool:
            return len(received) == len(sent) - first

        await wait_until(caught_up)
    finally:
        tailing.cancel()
    assert old not in ids_of(received)
    assert ids_of(received) == sent[first:]

    replay = bus.subscribe(stream, last_id=old)
    try:
        assert (await asyncio.wait_for(anext(replay), timeout=3)).id == sent[0]
    finally:
        await replay.aclose()


async def test_ping_succeeds_on_a_live_bus(bus: EventBus) -> None:
    await bus.ping()


def test_create_bus_picks_the_implementation() -> None:
    assert isinstance(create_bus(None), InMemoryBus)
    assert isinstance(create_bus(REDIS_URL), RedisStreamsBus)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_port() -> int:
    return free_port()


@pytest.fixture
def own_redis(redis_port: int) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts (and restarts) a throwaway redis-server on `redis_port`; kills it at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        command = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        started.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        return started[-1]

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=5)


async def ready(bus: EventBus) -> bool:
    try:
        await bus.ping()
    except EventBusUnavailable:
        return False
    return True


@pytest.mark.redis
@pytest.mark.slow
async def test_publish_fails_clearly_while_redis_is_down_and_recovers(
    own_redis: Callable[[], subprocess.Popen[bytes]], redis_port: int
) -> None:
    server = own_redis()
    bus = RedisStreamsBus(f"redis://127.0.0.1:{redis_port}/0", command_timeout=2.0)
    try:
        await wait_until(lambda: ready(bus))
        before = await bus.publish("outage", "t", {"n": 1})

        server.terminate()
        server.wait(timeout=5)
        with pytest.raises(EventBusUnavailable, match="publish 'outage'"):
            await bus.publish("outage", "t", {"n": 2})
        with pytest.raises(EventBusUnavailable):
            await bus.ping()

        own_redis()  # same port, empty data set (no persistence)
        await wait_until(lambda: ready(bus))
        after = await bus.publish("outage", "t", {"n": 3})
        assert ID_FORMAT.match(before)
        assert ID_FORMAT.match(after)
        assert [m.data for m in await bus.recent("outage")] == [{"n": 3}]
    finally:
        await bus.close()


async def test_unreachable_redis_is_reported_as_unavailable() -> None:
    bus = RedisStreamsBus(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.5)
    try:
        with pytest.raises(EventBusUnavailable):
            await bus.ping()
        with pytest.raises(EventBusUnavailable):
            await bus.read_group("s", "g", "c", block_ms=10)
    finally:
        await bus.close()
