"""The event bus on Redis Streams (redis-py asyncio).

Every Redis failure that means "cannot reach Redis" (refused, reset, timed out, loading) is
translated here, once, into `EventBusUnavailable`; a missing consumer group into
`ConsumerGroupMissing`. Retries are few and short on purpose: callers (the outbox relay, the
health check) decide how long to wait, and an API request must not hang on a dead Redis.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import groupby
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ordinaut.events.bus import (
    ENTRY_FIELD,
    BatchOutcome,
    BusMessage,
    ConsumerGroupMissing,
    EventBusUnavailable,
    OutgoingEvent,
    decode_entry,
    encode_entry,
)

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
# A raw entry as redis-py returns it: (id, {field: value}); fields are None for deleted ids.
RawEntry = tuple[str, Mapping[str, str] | None]


@contextmanager
def _redis_errors(action: str, stream: str, group: str = "") -> Iterator[None]:
    """Translate redis-py exceptions raised inside the block into our error types."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise EventBusUnavailable(f"event bus unreachable ({action} {stream!r}): {detail}") from exc
    except ResponseError as exc:
        if str(exc).startswith("NOGROUP"):
            raise ConsumerGroupMissing(stream, group) from exc
        raise


class RedisStreamsBus:
    """An `EventBus` on a Redis server (6.2+ for XAUTOCLAIM)."""

    def __init__(
        self, url: str, *, connect_timeout: float = 2.0, command_timeout: float = 5.0
    ) -> None:
        # No socket read timeout: blocking reads last block_ms; each call gets its own
        # deadline (`command_timeout` beyond any block) instead.
        self._redis: Redis = Redis.from_url(
            url,
            decode_responses=True,
            protocol=2,  # reply shapes below are RESP2's
            socket_connect_timeout=connect_timeout,
            socket_timeout=None,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), retries=2),
        )
        self._timeout = command_timeout

    def _deadline(self, block_ms: int = 0) -> asyncio.Timeout:
        return asyncio.timeout(self._timeout + max(block_ms, 0) / 1000)

    async def publish(
        self, stream: str, type: str, data: dict[str, Any], *, maxlen: int | None = None
    ) -> str:
        fields: dict[Any, Any] = {ENTRY_FIELD: encode_entry(type, data)}
        with _redis_errors("publish", stream):
            async with self._deadline():
                entry_id = await self._redis.xadd(stream, fields, maxlen=maxlen, approximate=True)
        return str(entry_id)

    async def publish_many(
        self, events: Sequence[OutgoingEvent], *, maxlen: int | None = None
    ) -> BatchOutcome:
        """One pipelined round trip per run of consecutive events on the same stream. A
        stream-wide refusal (WRONGTYPE) fails a whole run, so the published ids stay a
        prefix; a connection lost mid-run leaves its run unknown and it is sent again."""
        ids: list[str] = []
        for stream, run in groupby(events, key=lambda event: event[0]):
            try:
                with _redis_errors("publish", stream):
                    async with self._deadline():
                        pipe = self._redis.pipeline(transaction=False)
                        for _, type, data in run:
                            fields: dict[Any, Any] = {ENTRY_FIELD: encode_entry(type, data)}
                            pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)
                        replies = await pipe.execute(raise_on_error=False)
            except Exception as exc:
                return BatchOutcome(ids, exc)
            for reply in replies:
                if isinstance(reply, Exception):
                    return BatchOutcome(ids, reply)
                ids.append(str(reply))
        return BatchOutcome(ids)

    async def ensure_group(self, stream: str, group: str, start: str = "$") -> None:
        try:
            with _redis_errors("ensure_group", stream, group):
                async with self._deadline():
                    await self._redis.xgroup_create(stream, group, id=start, mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise

    async def read_group(
        self, stream: str, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> list[BusMessage]:
        block = block_ms if block_ms > 0 else None  # Redis' BLOCK 0 would wait forever
        with _redis_errors("read_group", stream, group):
            async with self._deadline(block_ms):
                reply = await self._redis.xreadgroup(
                    group, consumer, {stream: ">"}, count=count, block=block
                )
        return _messages(stream, _entries_of(reply, stream))

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        if not ids:
            return 0
        with _redis_errors("ack", stream, group):
            async with self._deadline():
                return int(await self._redis.xack(stream, group, *ids))

    async def autoclaim(
        self, stream: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[BusMessage]:
        with _redis_errors("autoclaim", stream, group):
            async with self._deadline():
                reply = await self._redis.xautoclaim(
                    stream, group, consumer, min_idle_ms, "0-0", count=count
                )
        return _messages(stream, reply[1])

    async def recent(self, stream: str, count: int = 50) -> list[BusMessage]:
        if count <= 0:
            return []
        with _redis_errors("recent", stream):
            async with self._deadline():
                entries = await self._redis.xrevrange(stream, "+", "-", count=count)
        return _messages(stream, entries)

    async def trim(self, stream: str, maxlen: int) -> int:
        with _redis_errors("trim", stream):
            async with self._deadline():
                return int(await self._redis.xtrim(stream, maxlen=maxlen, approximate=False))

    async def delete_stream(self, stream: str) -> None:
        with _redis_errors("delete_stream", stream):
            async with self._deadline():
                await self._redis.delete(stream)

    async def streams(self, prefix: str) -> list[str]:
        pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"
        with _redis_errors("streams", prefix):
            async with self._deadline():
                names = [n async for n in self._redis.scan_iter(match=pattern, _type="stream")]
        return sorted(set(names))

    async def subscribe(self, stream: str, *, last_id: str = "$") -> AsyncIterator[BusMessage]:
        cursor = await self._last_id(stream) if last_id == "$" else last_id
        while True:
            with _redis_errors("subscribe", stream):
                async with self._deadline(1000):
                    reply = await self._redis.xread({stream: cursor}, count=100, block=1000)
            for message in _messages(stream, _entries_of(reply, stream)):
                cursor = message.id
                yield message

    async def _last_id(self, stream: str) -> str:
        """The newest id now, so a tail started with `$` misses nothing between reads."""
        with _redis_errors("subscribe", stream):
            async with self._deadline():
                newest = await self._redis.xrevrange(stream, "+", "-", count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def ping(self) -> None:
        with _redis_errors("ping", ""):
            async with self._deadline():
                await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def _entries_of(reply: Any, stream: str) -> list[RawEntry]:
    """XREAD/XREADGROUP reply (RESP2): a list of [stream, entries], or None after a timeout."""
    return [entry for name, entries in reply or () if name == stream for entry in entries]


def _messages(stream: str, entries: Any) -> list[BusMessage]:
    return [
        decode_entry(stream, str(entry_id), fields)
        for entry_id, fields in entries
        if fields is not None
    ]
