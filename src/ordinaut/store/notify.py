"""PostgreSQL LISTEN/NOTIFY: `notify` inside a transaction, `NotifyListener` to wake sleepers.

A notification is only news: a listener that misses one (it was reconnecting) still finds the
work on its next poll, so losing notifications never loses work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.signals import LocalSignal
from ordinaut.store.channels import WORK_AVAILABLE, channel_notify

logger = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 1.0
__all__ = ["WORK_AVAILABLE", "NotifyListener", "notify"]


async def notify(conn: AsyncConnection, channel: str = WORK_AVAILABLE) -> None:
    """Queue a NOTIFY on `channel`; PostgreSQL delivers it when the transaction commits."""
    await channel_notify(conn, channel)


def libpq_url(database_url: str) -> str:
    """The plain `postgresql://` URL psycopg wants, from a SQLAlchemy one."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class NotifyListener:
    """One dedicated connection LISTENing on `channels`; each channel sets its own signal.

    Runs as a background task between `start()` and `stop()`; on a lost connection it sets
    every signal (so sleepers poll once) and reconnects after RECONNECT_DELAY_SECONDS.
    """

    def __init__(self, database_url: str, channels: Iterable[str]) -> None:
        self._url = libpq_url(database_url)
        self._signals = {name: LocalSignal() for name in channels}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def signal(self, channel: str) -> LocalSignal:
        return self._signals[channel]

    async def start(self) -> None:
        """Start listening; returns once the first LISTEN is in place (or failed once)."""
        self._task = asyncio.create_task(self._run(), name="ordinaut-notify-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self.connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                logger.warning("LISTEN connection lost, reconnecting: %s", exc)
            self.connected.clear()
            self._wake_all()
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
            for name in self._signals:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
            self.connected.set()
            self._wake_all()  # anything enqueued while we were away
            async for note in conn.notifies():
                signal = self._signals.get(note.channel)
                if signal is not None:
                    signal.set()

    def _wake_all(self) -> None:
        for signal in self._signals.values():
            signal.set()
