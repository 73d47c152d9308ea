"""The event bus seam: one protocol, two implementations with the same semantics.

The bus only carries news (the database is the source of truth), so its contract is Redis
Streams' contract, small: append with retention, consumer groups with a pending entries list,
acknowledgement, claiming a dead consumer's pending messages, and a plain tail for SSE.
`RedisStreamsBus` speaks to Redis; `InMemoryBus` is its in-process twin for `ordinaut up` and
tests. Both hand out ids in Redis' `<milliseconds>-<sequence>` form.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ordinaut.core.errors import OrdinautError

# Redis stores one hash field per entry; ours holds the JSON `{"type": ..., "data": ...}`.
ENTRY_FIELD = "event"


@dataclass(frozen=True)
class BusMessage:
    """One stream entry: its id (`"1700000000000-0"`), stream, event type and JSON payload."""

    id: str
    stream: str
    type: str
    data: dict[str, Any]


class EventBusUnavailable(OrdinautError):
    """The bus cannot be reached (connection refused, reset, timed out); callers may retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "event_bus_unavailable", 503, "Service unavailable")


class ConsumerGroupMissing(OrdinautError):
    """A group read, ack or claim named a group that `ensure_group` never created."""

    def __init__(self, stream: str, group: str) -> None:
        super().__init__(
            f"consumer group {group!r} does not exist on stream {stream!r}",
            "consumer_group_missing",
            500,
            "Internal error",
        )


OutgoingEvent = tuple[str, str, dict[str, Any]]
"""(stream, type, data): one event for `publish_many`."""


@dataclass(frozen=True)
class BatchOutcome:
    """What `publish_many` got onto the bus: the ids of the first `len(ids)` events, in order,
    and the error that stopped it (None when every event was published)."""

    ids: list[str]
    error: Exception | None = None


class EventBus(Protocol):
    """Streams of JSON events with consumer groups (Redis Streams semantics)."""

    async def publish(
        self, stream: str, type: str, data: dict[str, Any], *, maxlen: int | None = None
    ) -> str:
        """Append an event and return its id; `maxlen` trims approximately (at least that
        many newest entries stay; the in-process bus trims exactly)."""
        ...

    async def publish_many(
        self, events: Sequence[OutgoingEvent], *, maxlen: int | None = None
    ) -> BatchOutcome:
        """Append events in order in as few round trips as the bus allows, stopping at the
        first failure. Events after the failed one may have been appended too: whoever
        retries the rest delivers them at least once."""
        ...

    async def ensure_group(self, stream: str, group: str, start: str = "$") -> None:
        """Create the group (and an empty stream) unless it exists; `$` = only new entries,
        `0` = everything in the stream."""
        ...

    async def read_group(
        self, stream: str, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> list[BusMessage]:
        """Deliver entries no consumer of the group has seen yet, adding them to the group's
        pending list under `consumer`; waits up to `block_ms` for one (0: do not wait)."""
        ...

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        """Remove ids from the pending list; returns how many were pending."""
        ...

    async def autoclaim(
        self, stream: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[BusMessage]:
        """Take over pending entries idle at least `min_idle_ms` (a dead consumer's) for
        `consumer`, oldest first, resetting their idle time."""
        ...

    async def recent(self, stream: str, count: int = 50) -> list[BusMessage]:
        """The newest `count` entries, newest first."""
        ...

    async def trim(self, stream: str, maxlen: int) -> int:
        """Keep exactly the newest `maxlen` entries; returns how many were removed."""
        ...

    async def delete_stream(self, stream: str) -> None:
        """Drop the stream with its groups; a missing stream is not an error."""
        ...

    async def streams(self, prefix: str) -> list[str]:
        """Names of existing streams starting with `prefix`, sorted."""
        ...

    def subscribe(self, stream: str, *, last_id: str = "$") -> AsyncIterator[BusMessage]:
        """Tail the stream (no group, no acks) from after `last_id`; `$` = from now on.
        Runs until the consumer stops iterating."""
        ...

    async def ping(self) -> None:
        """Raise `EventBusUnavailable` if the bus cannot be reached (health checks)."""
        ...

    async def close(self) -> None:
        """Release connections; the bus is not used afterwards."""
        ...


def encode_entry(type: str, data: Mapping[str, Any]) -> str:
    """The JSON text stored for one entry."""
    return json.dumps({"type": type, "data": dict(data)}, separators=(",", ":"))


def decode_entry(stream: str, entry_id: str, fields: Mapping[str, str]) -> BusMessage:
    """Read an entry back; an entry written by a foreign producer keeps its raw fields."""
    raw = fields.get(ENTRY_FIELD)
    if raw is None:
        return BusMessage(entry_id, stream, "", dict(fields))
    try:
        body = json.loads(raw)
    except ValueError:
        return BusMessage(entry_id, stream, "", dict(fields))
    if not isinstance(body, dict):
        return BusMessage(entry_id, stream, "", {"value": body})
    data = body.get("data")
    return BusMessage(
        entry_id,
        stream,
        str(body.get("type", "")),
        data if isinstance(data, dict) else {"value": data},
    )


def parse_stream_id(value: str) -> tuple[int, int]:
    """`"1700000000000-3"` -> (1700000000000, 3); a bare `"5"` means `"5-0"`."""
    ms, _, seq = value.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        raise ValueError(f"invalid stream id {value!r}") from None


def format_stream_id(value: tuple[int, int]) -> str:
    return f"{value[0]}-{value[1]}"
