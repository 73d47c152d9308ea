"""Wake-ups: how a sleeping worker (or scheduler) learns that new work exists.

`WakeSignal` is the seam. `LocalSignal` is the in-process implementation `ordinaut up` uses;
the PostgreSQL LISTEN/NOTIFY listener (`ordinaut.store.notify`) hands out the same kind of
object per channel, so the worker cannot tell them apart.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class WakeSignal(Protocol):
    def set(self) -> None:
        """Wake whoever waits (or the next one to wait)."""
        ...

    async def wait(self, timeout: float) -> bool:
        """Sleep until set or `timeout` seconds pass; True when woken. Clears the signal."""
        ...


class LocalSignal:
    """A `WakeSignal` over an `asyncio.Event`; pass an existing event to share it."""

    def __init__(self, event: asyncio.Event | None = None) -> None:
        self.event = event if event is not None else asyncio.Event()

    def set(self) -> None:
        self.event.set()

    async def wait(self, timeout: float) -> bool:
        if not self.event.is_set():
            try:
                async with asyncio.timeout(max(timeout, 0.0)):
                    await self.event.wait()
            except TimeoutError:
                return False
        self.event.clear()
        return True
