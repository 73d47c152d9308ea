"""Several schedulers against one PostgreSQL database enqueue each occurrence exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ordinaut.core.clock import FrozenClock
from ordinaut.core.ids import new_id
from ordinaut.core.settings import Settings
from ordinaut.scheduling.scheduler import Scheduler
from ordinaut.services.agents import create_agent
from ordinaut.store.engine import Store
from ordinaut.store.schema import due_work, task

START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
TASKS = 100
MINUTES = 10


async def _seed(store: Store, clock: FrozenClock) -> None:
    async with store.transaction() as conn:
        agent = (await create_agent(conn, name="race", scopes=["admin"], clock=clock)).agent
        await conn.execute(
            task.insert(),
            [
                {
                    "id": new_id(),
                    "title": f"t{i}",
                    "created_by": agent.id,
                    "schedule_kind": "cron",
                    "schedule_expr": "* * * * *",
                    "timezone": "UTC",
                    "dtstart": START,
                    "payload": {"pipeline": []},
                    "status": "active",
                    "backoff_strategy": "fixed",
                    "dst_gap": "shift",
                    "dst_overlap": "first",
                    "catchup": "latest",
                    "next_run_at": START + timedelta(minutes=1),
                    "created_at": START,
                    "updated_at": START,
                    "misfire_grace_seconds": 3600,
                }
                for i in range(TASKS)
            ],
        )


async def test_three_schedulers_enqueue_every_occurrence_exactly_once(pg_url: str) -> None:
    clock = FrozenClock(START)
    stores = [Store(pg_url) for _ in range(3)]
    settings = Settings(DATABASE_URL=pg_url, SCHEDULER_BATCH_SIZE=37)
    try:
        await _seed(stores[0], clock)
        schedulers = [Scheduler(settings, s, clock) for s in stores]
        for _ in range(MINUTES):
            clock.advance(timedelta(minutes=1))
            while True:  # every scheduler ticks at once until none finds work
                results = await asyncio.gather(*(s.tick() for s in schedulers))
                if not any(r.busy for r in results):
                    break
        async with stores[0].connect() as conn:
            total = await conn.execute(sa.select(sa.func.count()).select_from(due_work))
            distinct = await conn.execute(
                sa.select(
                    sa.func.count(
                        sa.distinct(sa.tuple_(due_work.c.task_id, due_work.c.scheduled_for))
                    )
                )
            )
            assert total.scalar_one() == TASKS * MINUTES
            assert distinct.scalar_one() == TASKS * MINUTES
    finally:
        for s in stores:
            await s.dispose()
