"""`ordinaut worker`: one worker process until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from ordinaut.core.clock import Clock, SystemClock
from ordinaut.core.heap import settle
from ordinaut.core.logs import configure_logging
from ordinaut.core.settings import Settings
from ordinaut.pipeline.catalog import build_registry
from ordinaut.pipeline.registry import ToolRegistry
from ordinaut.store.engine import Store
from ordinaut.worker.loop import Worker
from ordinaut.worker.runner import TaskPipelineRunner

RegistryFactory = Callable[[Settings, Store, Clock], Awaitable[ToolRegistry]]


async def builtin_registry(settings: Settings, _store: Store, _clock: Clock) -> ToolRegistry:
    """Tools without an event publisher (`ordinaut.runtime` passes one that has it)."""
    return await build_registry(settings)


def run_worker(settings: Settings, tools: RegistryFactory = builtin_registry) -> None:
    """Build the store, tools and worker from `settings`; run until told to stop."""
    configure_logging(settings)
    asyncio.run(serve_worker(settings, tools))


async def serve_worker(settings: Settings, tools: RegistryFactory = builtin_registry) -> None:
    store = Store(settings.database_url)
    try:
        clock = SystemClock()
        registry = await tools(settings, store, clock)
        worker = Worker(settings, store, clock, TaskPipelineRunner(registry, clock, store))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.request_stop)
        settle()
        await worker.run_until_stopped()
    finally:
        await store.dispose()
