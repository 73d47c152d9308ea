"""`ordinaut worker`: one worker process until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from ordinaut.core.clock import SystemClock
from ordinaut.core.logs import configure_logging
from ordinaut.core.settings import Settings
from ordinaut.pipeline.catalog import build_registry
from ordinaut.store.engine import Store
from ordinaut.worker.loop import Worker
from ordinaut.worker.runner import TaskPipelineRunner


def run_worker(settings: Settings) -> None:
    """Build the store, tools and worker from `settings`; run until told to stop."""
    configure_logging(settings)
    asyncio.run(serve_worker(settings))


async def serve_worker(settings: Settings) -> None:
    store = Store(settings.database_url)
    try:
        clock = SystemClock()
        registry = await build_registry(settings)
        worker = Worker(settings, store, clock, TaskPipelineRunner(registry, clock, store))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.request_stop)
        await worker.run_until_stopped()
    finally:
        await store.dispose()
