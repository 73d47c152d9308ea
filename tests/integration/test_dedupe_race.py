"""Concurrent creates with one dedupe_key make one task, even across connections."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.pipeline import build_registry
from ordinaut.services.agents import create_agent
from ordinaut.services.context import ServiceContext
from ordinaut.services.task_inputs import TaskDraft
from ordinaut.services.tasks import create_task
from ordinaut.store.engine import Store
from ordinaut.store.schema import task

DRAFT = TaskDraft.model_validate(
    {
        "title": "once only",
        "schedule_kind": "cron",
        "schedule_expr": "0 9 * * *",
        "dedupe_key": "daily-report",
        "payload": {"pipeline": [{"id": "a", "uses": "echo.message", "with": {"message": 1}}]},
    }
)


async def test_racing_creates_with_one_key_make_one_task(db_url: str) -> None:
    settings = Settings(DATABASE_URL=db_url)
    registry = await build_registry(settings)
    stores = [Store(db_url) for _ in range(4)]
    contexts = [ServiceContext(settings, s, SystemClock(), registry) for s in stores]
    try:
        async with stores[0].transaction() as conn:
            agent = (
                await create_agent(conn, name="racer", scopes=["admin"], clock=SystemClock())
            ).agent
        results = await asyncio.gather(*(create_task(c, agent, DRAFT) for c in contexts * 3))
        assert len({t.id for t, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        async with stores[0].connect() as conn:
            count = await conn.execute(sa.select(sa.func.count()).select_from(task))
            assert count.scalar_one() == 1
    finally:
        for s in stores:
            await s.dispose()
