"""The scheduler tick against a real store: exact fire times, misfires, completion."""

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
from ordinaut.services.task_inputs import TaskDraft
from ordinaut.services.tasks import create_task
from ordinaut.store.engine import Store
from ordinaut.store.schema import due_work
from ordinaut.store.tasks import task_get

START = datetime(2026, 3, 2, 8, 0, 12, tzinfo=UTC)  # a Monday
PIPELINE = {"pipeline": [{"id": "hi", "uses": "echo.message", "with": {"message": "hi"}}]}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def ctx(store: Store, clock: FrozenClock) -> ServiceContext:
    settings = Settings(DATABASE_URL=store.url)
    return ServiceContext(settings, store, clock, await build_registry(settings))


@pytest.fixture
async def agent(ctx: ServiceContext) -> Agent:
    async with ctx.store.transaction() as conn:
        issued = await create_agent(conn, name="sched", scopes=["admin"], clock=ctx.clock)
    return issued.agent


@pytest.fixture
def scheduler(ctx: ServiceContext) -> Scheduler:
    return Scheduler(ctx.settings, ctx.store, ctx.clock)


async def _task(ctx: ServiceContext, agent: Agent, **fields: Any) -> Task:
    draft = TaskDraft.model_validate({"title": "t", "payload": PIPELINE} | fields)
    task, _ = await create_task(ctx, agent, draft)
    return task


async def _ledger(store: Store, task_id: str) -> list[tuple[datetime, str, str | None]]:
    query = (
        sa.select(due_work.c.scheduled_for, due_work.c.state, due_work.c.reason)
        .where(due_work.c.task_id == task_id)
        .order_by(due_work.c.scheduled_for)
    )
    async with store.connect() as conn:
        return [tuple(r) for r in (await conn.execute(query)).all()]  # type: ignore[misc]


async def test_cron_fires_once_at_each_minute_without_seconds(
    ctx: ServiceContext, agent: Agent, scheduler: Scheduler, clock: FrozenClock
) -> None:
    task = await _task(ctx, agent, schedule_kind="cron", schedule_expr="*/5 * * * *")
    assert task.next_run_at == datetime(2026, 3, 2, 8, 5, tzinfo=UTC)
    assert (await scheduler.tick()).enqueued == 0
    clock.set(datetime(2026, 3, 2, 8, 5, 0, 300_000, tzinfo=UTC))
    assert (await scheduler.tick()).enqueued == 1
    assert (await scheduler.tick()).tasks == 0
    assert await _ledger(ctx.store, task.id) == [
        (datetime(2026, 3, 2, 8, 5, tzinfo=UTC), "scheduled", None)
    ]
    async with ctx.store.connect() as conn:
        refreshed = await task_get(conn, task.id)
    assert refreshed is not None
    assert refreshed.next_run_at == datetime(2026, 3, 2, 8, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("catchup", "expected_run", "expected_missed"),
    [
        pytest.param("latest", ["08:50"], 9, id="latest_runs_newest_once"),
        pytest.param("all", [f"08:{m:02d}" for m in range(5, 55, 5)], 0, id="all_runs_each"),
        pytest.param("none", [], 10, id="none_runs_nothing"),
    ],
)
async def test_misfires_follow_the_catchup_policy(
    ctx: ServiceContext,
    agent: Agent,
    scheduler: Scheduler,
    clock: FrozenClock,
    catchup: str,
    expected_run: list[str],
    expected_missed: int,
) -> None:
    task = await _task(
        ctx,
        agent,
        schedule_kind="cron",
        schedule_expr="*/5 * * * *",
        catchup=catchup,
        misfire_grace_seconds=30,
    )
    clock.set(datetime(2026, 3, 2, 8, 54, tzinfo=UTC))  # 08:05 .. 08:50 are all late
    await scheduler.tick()
    ledger = await _ledger(ctx.store, task.id)
    ran = [t.strftime("%H:%M") for t, state, _ in ledger if state == "scheduled"]
    missed = [reason for _, state, reason in ledger if state == "missed"]
    assert ran == expected_run
    assert len(missed) == expected_missed
    assert all(r and "misfire" in r for r in missed)


async def test_on_time_occurrence_within_grace_runs(
    ctx: ServiceContext, agent: Agent, scheduler: Scheduler, clock: FrozenClock
) -> None:
    task = await _task(
        ctx, agent, schedule_kind="cron", schedule_expr="*/5 * * * *", misfire_grace_seconds=30
    )
    clock.set(datetime(2026, 3, 2, 8, 5, 29, tzinfo=UTC))
    await scheduler.tick()
    assert [s for _, s, _ in await _ledger(ctx.store, task.id)] == ["scheduled"]


async def test_past_once_task_runs_right_away(
    ctx: ServiceContext, agent: Agent, scheduler: Scheduler, clock: FrozenClock
) -> None:
    task = await _task(ctx, agent, schedule_kind="once", schedule_expr="2020-01-01T00:00:00Z")
    assert task.next_run_at == START
    result = await scheduler.tick()
    assert result.enqueued == 1
    clock.advance(timedelta(days=1))
    assert (await scheduler.tick()).tasks == 0


async def test_finite_rrule_completes_after_its_last_occurrence(
    ctx: ServiceContext, agent: Agent, scheduler: Scheduler, clock: FrozenClock
) -> None:
    task = await _task(
        ctx,
        agent,
        schedule_kind="rrule",
        schedule_expr="FREQ=HOURLY;COUNT=2",
        timezone="Europe/Chisinau",
    )
    clock.advance(timedelta(hours=3))
    await scheduler.tick()
    async with ctx.store.connect() as conn:
        refreshed = await task_get(conn, task.id)
    assert refreshed is not None
    assert refreshed.status == "completed"
    assert refreshed.next_run_at is None
    assert len(await _ledger(ctx.store, task.id)) == 2


async def test_a_failed_tick_loses_nothing(
    ctx: ServiceContext, agent: Agent, scheduler: Scheduler, clock: FrozenClock
) -> None:
    """A crash mid-batch rolls the whole batch back; the next tick enqueues it all."""
    tasks = [
        await _task(ctx, agent, schedule_kind="cron", schedule_expr="* * * * *") for _ in range(5)
    ]

    class Crash(Exception):
        pass

    async def crash(*_: object) -> None:
        raise Crash

    clock.advance(timedelta(minutes=1))
    broken = Scheduler(ctx.settings, ctx.store, clock)
    broken._announce = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await broken.tick()
    assert (await scheduler.tick()).enqueued == 5
    for task in tasks:
        assert len(await _ledger(ctx.store, task.id)) == 1
