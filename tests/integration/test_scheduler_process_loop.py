"""The scheduler's run loop in-process, on both backends: sleeps, wakes, fires, stops."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa

from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.pipeline import build_registry
from ordinaut.scheduling.scheduler import Scheduler
from ordinaut.services.agents import create_agent
from ordinaut.services.context import ServiceContext
from ordinaut.services.task_inputs import TaskDraft
from ordinaut.services.tasks import create_task
from ordinaut.store.channels import TASKS_CHANGED
from ordinaut.store.engine import Store
from ordinaut.store.schema import due_work

WaitFor = Callable[..., Awaitable[None]]
CLOCK = SystemClock()
PIPELINE = {"pipeline": [{"id": "hi", "uses": "echo.message", "with": {"message": "hi"}}]}


async def _ledger_count(store: Store) -> int:
    async with store.connect() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(due_work))).scalar_one()
        )


async def test_a_sleeping_loop_is_woken_by_a_new_task_and_fires_it_then_stops(
    store: Store, wait_for: WaitFor
) -> None:
    settings = Settings(DATABASE_URL=store.url, SCHEDULER_MAX_SLEEP=30)
    ctx = ServiceContext(settings, store, CLOCK, await build_registry(settings))
    scheduler = Scheduler(settings, store, CLOCK, wakeup=ctx.signal(TASKS_CHANGED))
    async with store.transaction() as conn:
        agent = (await create_agent(conn, name="loop", scopes=["admin"], clock=CLOCK)).agent
    await scheduler.start()
    try:
        due = CLOCK.now() + timedelta(seconds=0.5)
        draft = {"title": "t", "payload": PIPELINE, "schedule_kind": "once"}
        await create_task(
            ctx, agent, TaskDraft.model_validate(draft | {"schedule_expr": due.isoformat()})
        )
        await wait_for(lambda: _ledger_count(store), timeout=3, interval=0.01)
        assert CLOCK.now() - due < timedelta(seconds=1)  # not the 30 s sleep
        assert scheduler.enqueued_total == 1
    finally:
        await scheduler.stop()
    assert await _ledger_count(store) == 1
