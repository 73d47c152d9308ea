"""Composition root: which components run in which process.

`ordinaut up` runs everything in one process and wakes its parts with in-process signals;
`ordinaut api|scheduler|worker` run one part each and wake each other through PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI

from ordinaut.api.app import Component, create_app
from ordinaut.core.clock import Clock
from ordinaut.core.heap import SettledHeap
from ordinaut.core.settings import Settings
from ordinaut.core.signals import LocalSignal
from ordinaut.pipeline.registry import ToolRegistry
from ordinaut.scheduling.main import SchedulerProcess
from ordinaut.services.context import ServiceContext
from ordinaut.services.toolbox import build_tools
from ordinaut.store.channels import TASKS_CHANGED, WORK_AVAILABLE
from ordinaut.store.engine import Store
from ordinaut.worker.loop import Worker
from ordinaut.worker.main import run_worker
from ordinaut.worker.runner import TaskPipelineRunner


@dataclass
class EmbeddedScheduler:
    """The scheduler of `ordinaut up`, woken by the API's in-process signals."""

    context: ServiceContext
    process: SchedulerProcess | None = field(default=None, init=False)

    async def start(self) -> None:
        ctx = self.context
        self.process = SchedulerProcess(
            ctx.settings,
            ctx.store,
            ctx.clock,
            wakeup=ctx.signal(TASKS_CHANGED),
            work_signal=ctx.signal(WORK_AVAILABLE),
        )
        await self.process.start()

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()


@dataclass
class EmbeddedWorker:
    """The worker of `ordinaut up`; built at start, once the app's tool registry exists."""

    context: ServiceContext
    worker: Worker | None = field(default=None, init=False)

    async def start(self) -> None:
        ctx = self.context
        runner = TaskPipelineRunner(ctx.registry, ctx.clock, ctx.store)
        self.worker = Worker(
            ctx.settings,
            ctx.store,
            ctx.clock,
            runner,
            wakeup=LocalSignal(ctx.signal(WORK_AVAILABLE)),
        )
        await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()


async def process_tools(settings: Settings, store: Store, clock: Clock) -> ToolRegistry:
    """The tools of a worker process, `events.publish` included (it writes through the store)."""
    context = ServiceContext(settings, store, clock, ToolRegistry())
    context.registry = await build_tools(context)
    return context.registry


def run_worker_process(settings: Settings) -> None:
    """`ordinaut worker`."""
    run_worker(settings, process_tools)


def embedded_components(context: ServiceContext) -> list[Component]:
    return [EmbeddedScheduler(context), EmbeddedWorker(context)]


def build_app(settings: Settings, store: Store, *, embedded: bool) -> FastAPI:
    """The API; with `embedded`, also the scheduler and worker of the single-process default.
    The heap is settled once all of it has started."""

    def components(context: ServiceContext) -> list[Component]:
        return [*(embedded_components(context) if embedded else []), SettledHeap()]

    return create_app(settings, store=store, components=components)
