"""Event bus: Redis Streams in production, an in-process twin for `ordinaut up` and tests."""

from __future__ import annotations

from ordinaut.core.clock import Clock
from ordinaut.events.bus import (
    BusMessage,
    ConsumerGroupMissing,
    EventBus,
    EventBusUnavailable,
)
from ordinaut.events.memory import InMemoryBus
from ordinaut.events.redis_streams import RedisStreamsBus

__all__ = [
    "BusMessage",
    "ConsumerGroupMissing",
    "EventBus",
    "EventBusUnavailable",
    "InMemoryBus",
    "RedisStreamsBus",
    "create_bus",
]


def create_bus(redis_url: str | None, *, clock: Clock | None = None) -> EventBus:
    """The bus for `Settings.redis_url`: Redis Streams when set, else in-process.

    Creating a Redis bus does not connect; the first command (or `ping`) does.
    """
    if redis_url:
        return RedisStreamsBus(redis_url)
    return InMemoryBus(clock)
