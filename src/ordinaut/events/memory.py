"""In-process twin of the Redis Streams bus, for `ordinaut up` and tests.

Same semantics as `RedisStreamsBus`: `<ms>-<seq>` ids from the clock, consumer groups with a
pending entries list (owner, delivery time, delivery count), idle-based autoclaim, blocking
reads with a timeout. Payloads are stored as the same JSON text Redis would hold, so a payload
that Redis would refuse is refused here too and readers never share mutable dicts.
Retention (`maxlen`) is exact here, which is one of the outcomes Redis' approximate trim allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ordinaut.core.clock import Clock, SystemClock
from ordinaut.events.bus import (
    ENTRY_FIELD,
    BatchOutcome,
    BusMessage,
    ConsumerGroupMissing,
    OutgoingEvent,
    decode_entry,
    encode_entry,
    format_stream_id,
    parse_stream_id,
)

StreamId = tuple[int, int]


@dataclass
class _Pending:
    consumer: str
    delivered_ms: int
    deliveries: int = 1


@dataclass
class _Group:
    last_delivered: StreamId
    pending: dict[StreamId, _Pending] = field(default_factory=dict)


@dataclass
class _Stream:
    entries: dict[StreamId, str] = field(default_factory=dict)  # id -> JSON, ids ascending
    last_id: StreamId = (0, 0)
    groups: dict[str, _Group] = field(default_factory=dict)


class InMemoryBus:
    """An `EventBus` held in this process; every instance is its own isolated bus."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._streams: dict[str, _Stream] = {}
        self._changed = asyncio.Event()
        self._closed = False

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def _notify(self) -> None:
        """Wake every blocked reader; each re-checks its own stream."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, seconds: float | None) -> bool:
        """Wait for any change; False once `seconds` pass without one (None: no limit)."""
        waiter = self._changed
        try:
            async with asyncio.timeout(seconds):
                await waiter.wait()
        except TimeoutError:
            return False
        return True

    def _message(self, stream: str, entry_id: StreamId, raw: str) -> BusMessage:
        return decode_entry(stream, format_stream_id(entry_id), {ENTRY_FIELD: raw})

    def _group(self, stream: str, group: str) -> tuple[_Stream, _Group]:
        found = self._streams.get(stream)
        if found is None or group not in found.groups:
            raise ConsumerGroupMissing(stream, group)
        return found, found.groups[group]

    async def publish(
        self, stream: str, type: str, data: dict[str, Any], *, maxlen: int | None = None
    ) -> str:
        raw = encode_entry(type, data)
        target = self._streams.setdefault(stream, _Stream())
        now_ms = self._now_ms()
        last_ms, last_seq = target.last_id
        entry_id = (now_ms, 0) if now_ms > last_ms else (last_ms, last_seq + 1)
        target.entries[entry_id] = raw
        target.last_id = entry_id
        if maxlen is not None:
            self._trim(target, maxlen)
        self._notify()
        return format_stream_id(entry_id)

    async def publish_many(
        self, events: Sequence[OutgoingEvent], *, maxlen: int | None = None
    ) -> BatchOutcome:
        ids: list[str] = []
        for stream, type, data in events:
            try:
                ids.append(await self.publish(stream, type, data, maxlen=maxlen))
            except Exception as exc:  # a payload that is not JSON stops the batch there
                return BatchOutcome(ids, exc)
        return BatchOutcome(ids)

    async def ensure_group(self, stream: str, group: str, start: str = "$") -> None:
        target = self._streams.setdefault(stream, _Stream())
        if group not in target.groups:
            begin = target.last_id if start == "$" else parse_stream_id(start)
            target.groups[group] = _Group(last_delivered=begin)

    async def read_group(
        self, stream: str, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> list[BusMessage]:
        deadline = asyncio.get_running_loop().time() + block_ms / 1000
        await asyncio.sleep(0)  # a suspension point, as every Redis round trip is
        while True:
            batch = self._deliver(stream, group, consumer, count)
            remaining = deadline - asyncio.get_running_loop().time()
            if batch or block_ms <= 0 or remaining <= 0 or self._closed:
                return batch
            if not await self._wait_change(remaining):
                return self._deliver(stream, group, consumer, count)

    def _deliver(self, stream: str, group: str, consumer: str, count: int) -> list[BusMessage]:
        target, state = self._group(stream, group)
        now_ms = self._now_ms()
        fresh = [(i, raw) for i, raw in target.entries.items() if i > state.last_delivered]
        batch = fresh[:count]
        for entry_id, _ in batch:
            state.pending[entry_id] = _Pending(consumer, now_ms)
        if batch:
            state.last_delivered = batch[-1][0]
        return [self._message(stream, i, raw) for i, raw in batch]

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        found = self._streams.get(stream)
        state = found.groups.get(group) if found else None
        if state is None:
            return 0  # Redis answers 0 for a missing key or group
        removed = [state.pending.pop(parse_stream_id(i), None) for i in ids]
        return sum(1 for entry in removed if entry is not None)

    async def autoclaim(
        self, stream: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[BusMessage]:
        target, state = self._group(stream, group)
        now_ms = self._now_ms()
        claimed: list[BusMessage] = []
        for entry_id in sorted(state.pending):
            if len(claimed) >= count:
                break
            pending = state.pending[entry_id]
            if now_ms - pending.delivered_ms < min_idle_ms:
                continue
            raw = target.entries.get(entry_id)
            if raw is None:  # trimmed away: Redis 7 drops it from the pending list
                del state.pending[entry_id]
                continue
            state.pending[entry_id] = _Pending(consumer, now_ms, pending.deliveries + 1)
            claimed.append(self._message(stream, entry_id, raw))
        return claimed

    async def recent(self, stream: str, count: int = 50) -> list[BusMessage]:
        found = self._streams.get(stream)
        if found is None or count <= 0:
            return []
        newest = list(found.entries.items())[-count:]
        return [self._message(stream, i, raw) for i, raw in reversed(newest)]

    async def trim(self, stream: str, maxlen: int) -> int:
        found = self._streams.get(stream)
        return self._trim(found, maxlen) if found else 0

    @staticmethod
    def _trim(target: _Stream, maxlen: int) -> int:
        excess = len(target.entries) - max(maxlen, 0)
        if excess <= 0:
            return 0
        for entry_id in list(target.entries)[:excess]:
            del target.entries[entry_id]
        return excess

    async def delete_stream(self, stream: str) -> None:
        if self._streams.pop(stream, None) is not None:
            self._notify()  # blocked group readers must see the group vanish

    async def streams(self, prefix: str) -> list[str]:
        return sorted(name for name in self._streams if name.startswith(prefix))

    async def subscribe(self, stream: str, *, last_id: str = "$") -> AsyncIterator[BusMessage]:
        cursor = self._start_of_tail(stream) if last_id == "$" else parse_stream_id(last_id)
        while not self._closed:
            found = self._streams.get(stream)
            fresh = [(i, raw) for i, raw in (found.entries.items() if found else ()) if i > cursor]
            for entry_id, raw in fresh:
                cursor = entry_id
                yield self._message(stream, entry_id, raw)
            if not fresh:
                await self._wait_change(None)

    def _start_of_tail(self, stream: str) -> StreamId:
        found = self._streams.get(stream)
        return found.last_id if found else (0, 0)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._closed = True
        self._notify()
