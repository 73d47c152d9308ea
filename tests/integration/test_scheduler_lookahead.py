"""Enqueue ahead: occurrences reach the ledger SCHEDULER_LOOKAHEAD seconds early, due on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ordinaut.core.clock import FrozenClock
from ordinaut.core.models import Agent, Task
from ordinaut.core.settings import Settings
from ordinaut.pipeline import build_registry
from ordinaut.scheduling.scheduler import Scheduler
from ordinaut.services.agents import create_agent
from ordinaut.services.context import ServiceContext
from ordinaut.services.task_inputs import TaskDraft, TaskPatch
from ordinaut.services.tasks import create_task, pause, resume, update_task
from ordinaut.store.engine import Store
from ordinaut.store.queue import due_work_claim
from ordinaut.store.schema import due_work
from ordinaut.store.tasks import task_get

START = datetime(2026, 3, 2, 8, 0, 12, tzinfo=UTC)
FIRE = datetime(2026, 3, 2, 8, 5, tzinfo=UTC)  # first */5 occurrence after START
LOOKAHEAD = 2.0
PIPELINE = {"pipeline": [{"id": "hi", "uses": "echo.message", "with": {"message": "hi"}}]}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


async def _context(store: Store, clock: FrozenClock, lookahead: float) -> ServiceContext:
    settings = Settings(DATABASE_URL=store.url, SCHEDULER_LOOKAHEAD=lookahead)
    return ServiceContext(settings, store, clock, await build_registry(settings))


@pytest.fixture
async def ctx(store: Store, clock: FrozenClock) -> ServiceContext:
    return await _context(store, clock, LOOKAHEAD)


@pytest.fixture
async def agent(ctx: ServiceContext) -> Agent:
    async with ctx.store.transaction() as conn:
        issued = await create_agent(conn, name="ahead", scopes=["admin"], clock=ctx.clock)
    return issued.agent


async def _task(ctx: ServiceContext, agent: Agent, **fields: Any) -> Task:
    draft = TaskDraft.model_validate({"title": "t", "payload": PIPELINE} | fields)
    task, _ = await create_task(ctx, agent, draft)
    return task


async def _ledger(store: Store, task_id: str) -> list[tuple[datetime, datetime, str, str | None]]:
    cols = (due_work.c.scheduled_for, due_work.c.run_at, due_work.c.state, due_work.c.reason)
    query = sa.select(*cols).where(due_work.c.task_id == task_id).order_by(*cols[:2])
    async with store.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [(s.astimezone(UTC), r.astimezone(UTC), state, why) for s, r, state, why in rows]


async def _claim(store: Store, now: datetime) -> list[datetime]:
    async with store.transaction() as conn:
        claimed = await due_work_claim(
            conn, worker_id="w", now=now, lease_until=now + timedelta(minutes=1), limit=10
        )
    return [c.work.scheduled_for.astimezone(UTC) for c in claimed]


async def _next_run_at(store: Store, task_id: str) -> datetime | None:
    async with store.connect() as conn:
        task = await task_get(conn, task_id)
    assert task is not None
    return task.next_run_at


async def test_occurrence_is_enqueued_ahead_and_claimable_only_at_its_instant(
    ctx: ServiceContext, agent: Agent, clock: FrozenClock
) -> None:
    task = await _task(ctx, agent, schedule_kind="cron", schedule_expr="*/5 * * * *")
    scheduler = Scheduler(ctx.settings, ctx.store, clock)
    clock.set(FIRE - timedelta(seconds=LOOKAHEAD + 0.1))  # just outside the lookahead
    assert (await scheduler.tick()).enqueued == 0
    assert scheduler._delay_until(FIRE) == pytest.approx(0.1)  # wakes when it enters it
    clock.set(FIRE - timedelta(seconds=LOOKAHEAD))
    result = await scheduler.tick()
    assert (result.enqueued, result.missed) == (1, 0)
    assert await _ledger(ctx.store, task.id) == [(FIRE, FIRE, "scheduled", None)]
    assert await _next_run_at(ctx.store, task.id) == FIRE + timedelta(minutes=5)
    assert await _claim(ctx.store, FIRE - timedelta(milliseconds=1)) == []
    assert await _claim(ctx.store, FIRE) == [FIRE]


async def test_lookahead_zero_enqueues_only_at_the_instant(
    store: Store, clock: FrozenClock
) -> None:
    ctx = await _context(store, clock, 0.0)
    async with store.transaction() as conn:
        agent = (await create_agent(conn, name="now", scopes=["admin"], clock=clock)).agent
    task = await _task(ctx, agent, schedule_kind="cron", schedule_expr="*/5 * * * *")
    scheduler = Scheduler(ctx.settings, store, clock)
    clock.set(FIRE - timedelta(milliseconds=1))
    assert (await scheduler.tick()).tasks == 0
    clock.set(FIRE)
    assert (await scheduler.tick()).enqueued == 1
    assert await _ledger(store, task.id) == [(FIRE, FIRE, "scheduled", None)]


async def test_schedule_change_cancels_the_row_enqueued_ahead(
    ctx: ServiceContext, agent: Agent, clock: FrozenClock
) -> None:
    task = await _task(ctx, agent, schedule_kind="cron", schedule_expr="*/5 * * * *")
    scheduler = Scheduler(ctx.settings, ctx.store, clock)
    clock.set(FIRE - timedelta(seconds=1))
    assert (await scheduler.tick()).enqueued == 1
    patch = TaskPatch.model_validate({"schedule_expr": "*/7 * * * *"})
    await update_task(ctx, agent, task.id, patch)
    assert await _ledger(ctx.store, task.id) == [(FIRE, FIRE, "canceled", "schedule changed")]
    assert await _claim(ctx.store, FIRE) == []
    assert await _next_run_at(ctx.store, task.id) == datetime(2026, 3, 2, 8, 7, tzinfo=UTC)


async def test_title_change_keeps_the_row_enqueued_ahead(
    ctx: ServiceContext, agent: Agent, clock: FrozenClock
) -> None:
    task = await _task(ctx, agent, schedule_kind="cron", schedule_expr="*/5 * * * *")
    clock.set(FIRE - timedelta(seconds=1))
    await Scheduler(ctx.settings, ctx.store, clock).tick()
    await update_task(ctx, agent, task.id, TaskPatch.model_validate({"title": "renamed"}))
    assert await _ledger(ctx.store, task.id) == [(FIRE, FIRE, "scheduled", None)]


async def test_resume_keeps_the_row_enqueued_ahead_and_enqueues_no_duplicate(
    ctx: ServiceContext, agent: Agent, clock: FrozenClock
) -> None:
    task = await _task(ctx, agent, schedule_kind="cron", schedule_expr="*/5 * * * *")
    scheduler = Scheduler(ctx.settings, ctx.store, clock)
    clock.set(FIRE - timedelta(seconds=1))
    assert (await scheduler.tick()).enqueued == 1
    await pause(ctx, agent, task.id)
    clock.set(FIRE - timedelta(milliseconds=500))
    assert (await resume(ctx, agent, task.id)).details["missed"] == 0
    assert await _next_run_at(ctx.store, task.id) == FIRE
    result = await scheduler.tick()
    assert (result.tasks, result.enqueued) == (1, 0)  # the unique key stops a second row
    assert await _ledger(ctx.store, task.id) == [(FIRE, FIRE, "scheduled", None)]
    assert await _next_run_at(ctx.store, task.id) == FIRE + timedelta(minutes=5)


async def test_a_late_occurrence_is_still_a_misfire_with_an_upcoming_one_ahead(
    ctx: ServiceContext, agent: Agent, clock: FrozenClock
) -> None:
    """Lateness is measured against now, not the horizon: catchup=latest still runs the
    newest misfire, and the upcoming occurrence in the lookahead is not late."""
    task = await _task(
        ctx, agent, schedule_kind="cron", schedule_expr="*/5 * * * *", misfire_grace_seconds=30
    )
    clock.set(datetime(2026, 3, 2, 8, 14, 59, tzinfo=UTC))  # 08:05 and 08:10 late; 08:15 ahead
    await Scheduler(ctx.settings, ctx.store, clock).tick()
    ledger = [(s.strftime("%H:%M"), state) for s, _, state, _ in await _ledger(ctx.store, task.id)]
    assert ledger == [("08:05", "missed"), ("08:10", "scheduled"), ("08:15", "scheduled")]
