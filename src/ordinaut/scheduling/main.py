"""`ordinaut scheduler`: one scheduler process until SIGTERM or SIGINT.

On PostgreSQL the process LISTENs on the tasks channel, so a task created or changed through
any API process wakes it at once; without that (SQLite) it polls every SCHEDULER_MAX_SLEEP.
It keeps a row of kind `scheduler` in the process registry, refreshed every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from ordinaut import __version__
from ordinaut.core.clock import Clock, SystemClock
from ordinaut.core.heap import settle
from ordinaut.core.logs import configure_logging
from ordinaut.core.settings import Settings
from ordinaut.core.states import ProcessKind
from ordinaut.scheduling.scheduler import Scheduler
from ordinaut.store.channels import TASKS_CHANGED
from ordinaut.store.engine import Store
from ordinaut.store.notify import NotifyListener
from ordinaut.store.workers import (
    WorkerInfo,
    worker_deregister,
    worker_heartbeat,
    worker_prune_stale,
    worker_register,
)

log = structlog.get_logger("ordinaut.scheduler")

HEARTBEAT_SECONDS = 2.0
"""How often the registry row is refreshed."""
STALE_PROCESS_SECONDS = 120.0
"""A registered process silent this long was killed; any live one forgets it."""


def run_scheduler(settings: Settings) -> None:
    """Build the store and scheduler from `settings`; run until SIGTERM or SIGINT."""
    configure_logging(settings)
    asyncio.run(serve_scheduler(settings))


async def serve_scheduler(settings: Settings, clock: Clock | None = None) -> None:
    """The scheduler process's body, for callers that already run an event loop."""
    store = Store(settings.database_url, pool_size=2)
    process = SchedulerProcess(settings, store, clock or SystemClock())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, process.request_stop)
    settle()
    try:
        await process.run_until_stopped()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await store.dispose()


def default_scheduler_id() -> str:
    return f"{socket.gethostname()[:60]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class SchedulerProcess:
    """The scheduler plus what a standalone process adds: wake-ups, registry row, stop."""

    settings: Settings
    store: Store
    clock: Clock
    id: str = field(default_factory=default_scheduler_id)
    wakeup: asyncio.Event | None = None
    """An in-process wake-up (`ordinaut up`); without one, PostgreSQL LISTEN provides it."""
    work_signal: asyncio.Event | None = None
    """Set when occurrences were enqueued, for an in-process worker."""
    scheduler: Scheduler | None = None
    _listener: NotifyListener | None = None
    _stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    _beat: asyncio.Task[None] | None = None

    def request_stop(self) -> None:
        """For signal handlers: `run_until_stopped` then shuts down cleanly."""
        self._stop_requested.set()

    async def run_until_stopped(self) -> None:
        await self.start()
        try:
            await self._stop_requested.wait()
        finally:
            await self.stop()

    async def start(self) -> None:
        """Listen first, then register: once the row exists, a task change wakes us."""
        wakeup = self.wakeup
        if wakeup is None:
            wakeup = asyncio.Event()
            if self.store.is_postgres:
                self._listener = NotifyListener(self.store.url, [TASKS_CHANGED])
                await self._listener.start()
                wakeup = self._listener.signal(TASKS_CHANGED).event
        self.scheduler = Scheduler(
            self.settings, self.store, self.clock, wakeup=wakeup, work_signal=self.work_signal
        )
        await self._register()
        await self.scheduler.start()
        self._beat = asyncio.create_task(self._beat_until_stopped(), name=f"{self.id}-beat")
        log.info("scheduler.started", scheduler_id=self.id, database=self.store.dialect)

    async def stop(self) -> None:
        """Let the current tick commit, then leave the registry and close the listener."""
        self._stop_requested.set()
        if self._beat is not None:
            await self._beat
            self._beat = None
        if self.scheduler is not None:
            await self.scheduler.stop()
        with contextlib.suppress(Exception):
            async with self.store.transaction() as conn:
                await worker_deregister(conn, self.id)
        if self._listener is not None:
            await self._listener.stop()
        enqueued = self.scheduler.enqueued_total if self.scheduler else 0
        log.info("scheduler.stopped", scheduler_id=self.id, enqueued=enqueued)

    async def _beat_until_stopped(self) -> None:
        while not self._stop_requested.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    await self._stop_requested.wait()
            if not self._stop_requested.is_set():
                try:
                    await self.heartbeat()
                except Exception as exc:  # the database may be briefly unreachable
                    log.warning("scheduler.heartbeat_failed", error=str(exc))

    async def heartbeat(self) -> None:
        """Refresh our row (re-registering if it was pruned) and forget silent processes."""
        now = self.clock.now()
        enqueued = self.scheduler.enqueued_total if self.scheduler else 0
        async with self.store.transaction() as conn:
            present = await worker_heartbeat(conn, self.id, now=now, running=0, processed=enqueued)
            await worker_prune_stale(
                conn, seen_before=now - timedelta(seconds=STALE_PROCESS_SECONDS)
            )
        if not present:
            await self._register()

    async def _register(self) -> None:
        now = self.clock.now()
        info = WorkerInfo(
            id=self.id,
            kind=ProcessKind.SCHEDULER.value,
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            version=__version__[:32],
            started_at=now,
            last_seen_at=now,
            running=0,
            processed=self.scheduler.enqueued_total if self.scheduler else 0,
            info={
                "batch_size": self.settings.scheduler_batch_size,
                "max_sleep": self.settings.scheduler_max_sleep,
                "listening": self._listener is not None,
            },
        )
        async with self.store.transaction() as conn:
            await worker_register(conn, info)
