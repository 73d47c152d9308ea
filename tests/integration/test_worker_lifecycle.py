"""Running workers side by side (each with its own Store): leases, keys, shutdown, registry."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ordinaut.core.clock import SystemClock
from ordinaut.core.models import DueWork, Task
from ordinaut.core.settings import Settings
from ordinaut.core.signals import LocalSignal
from ordinaut.services.agents import create_agent
from ordinaut.services.tasks import occurrence_row as occurrence
from ordinaut.store.engine import Store
from ordinaut.store.notify import notify
from ordinaut.store.occurrences import due_work_enqueue, due_work_list
from ordinaut.store.runs import task_run_list
from ordinaut.store.tasks import task_insert
from ordinaut.store.workers import worker_list
from ordinaut.worker.loop import Worker
from ordinaut.worker.runner import RunOutcome

WaitFor = Callable[..., Awaitable[None]]
CLOCK = SystemClock()


class SleepingRunner:
    """A second `PipelineRunner`: sleeps `payload["sleep"]` seconds for real, then succeeds."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def __call__(
        self, task: Task, work: DueWork, run_id: str, event: dict[str, Any] | None
    ) -> RunOutcome:
        self.started.append(work.id)
        await asyncio.sleep(task.payload["sleep"])
        return RunOutcome(True, {"slept": task.payload["sleep"]}, None, False)


async def make_task(store: Store, sleep: float, count: int = 1, **changes: Any) -> Task:
    now = CLOCK.now()
    async with store.transaction() as conn:
        name = f"agent-{uuid.uuid4().hex[:8]}"
        agent = (await create_agent(conn, name=name, scopes=["tasks:read"], clock=CLOCK)).agent
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()), "title": "t", "description": "", "created_by": agent.id,
            "schedule_kind": "cron", "schedule_expr": "* * * * *", "timezone": "UTC",
            "dtstart": now, "payload": {"sleep": sleep}, "status": "active", "priority": 5,
            "max_retries": 3, "backoff_strategy": "fixed", "dedupe_key": None,
            "dedupe_window_seconds": 0, "concurrency_key": None, "dst_gap": "shift",
            "dst_overlap": "first", "catchup": "latest", "misfire_grace_seconds": 30,
            "next_run_at": None, "last_run_at": None, "created_at": now, "updated_at": now,
        }  # fmt: skip
        task = await task_insert(conn, values | changes)
        items = [
            occurrence(task, now - timedelta(seconds=i), now - timedelta(seconds=i))
            for i in range(count)
        ]
        await due_work_enqueue(conn, items)
        await notify(conn)
    return task


def settings(**overrides: Any) -> Settings:
    return Settings(**{"WORKER_POLL_INTERVAL": 0.05, **overrides})


@pytest.fixture
async def second_store(db_url: str) -> AsyncIterator[Store]:
    store = Store(db_url)
    yield store
    await store.dispose()


async def states(store: Store, task: Task) -> list[str]:
    async with store.connect() as conn:
        works, _ = await due_work_list(
            conn, task_ids=[task.id], created_by=None, state=None, offset=0, limit=100
        )
    return sorted(w.state for w in works)


async def test_a_pipeline_longer_than_its_lease_is_not_stolen(
    store: Store, second_store: Store, wait_for: WaitFor
) -> None:
    config = settings(WORKER_LEASE_SECONDS=0.6)
    task = await make_task(store, sleep=2.0)
    runners = [SleepingRunner(), SleepingRunner()]
    workers = [
        Worker(config, store, CLOCK, runners[0], worker_id="a"),
        Worker(config, second_store, CLOCK, runners[1], worker_id="b"),
    ]
    for w in workers:
        await w.start()
    try:

        async def done() -> bool:
            return await states(store, task) == ["succeeded"]

        await wait_for(done, timeout=10)
    finally:
        for w in workers:
            await w.stop()
    async with store.connect() as conn:
        runs, total = await task_run_list(conn, task_id=task.id)
    assert total == 1 and runs[0].attempt == 1 and runs[0].success
    assert len(runners[0].started) + len(runners[1].started) == 1


async def test_a_concurrency_key_runs_one_at_a_time_across_workers(
    store: Store, second_store: Store, wait_for: WaitFor
) -> None:
    config = settings(WORKER_CONCURRENCY=4)
    first = await make_task(store, sleep=0.05, count=4, concurrency_key="k")
    second = await make_task(store, sleep=0.05, count=4, concurrency_key="k")
    workers = [
        Worker(config, store, CLOCK, SleepingRunner(), worker_id="a"),
        Worker(config, second_store, CLOCK, SleepingRunner(), worker_id="b"),
    ]
    for w in workers:
        await w.start()

    async def drained() -> bool:
        return await states(store, first) + await states(store, second) == ["succeeded"] * 8

    try:
        await wait_for(drained, timeout=20)
    finally:
        for w in workers:
            await w.stop()
    async with store.connect() as conn:
        runs, _ = await task_run_list(conn, limit=100)
    spans = sorted((r.started_at, r.finished_at) for r in runs)
    assert len(spans) == 8
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end is not None and end <= start


async def test_shutdown_lets_short_runs_finish_and_releases_the_rest(
    store: Store, wait_for: WaitFor
) -> None:
    short = await make_task(store, sleep=0.2, count=2)
    long = await make_task(store, sleep=30, count=2)
    runner = SleepingRunner()
    w = Worker(settings(WORKER_SHUTDOWN_TIMEOUT=1.0), store, CLOCK, runner, worker_id="a")
    await w.start()
    await wait_for(lambda: len(runner.started) == 4, timeout=10)
    async with store.connect() as conn:
        assert [x.id for x in await worker_list(conn)] == ["a"]
    await w.stop()
    assert await states(store, short) == ["succeeded", "succeeded"]
    assert await states(store, long) == ["scheduled", "scheduled"]
    async with store.connect() as conn:
        works, _ = await due_work_list(
            conn, task_ids=[long.id], created_by=None, state=None, offset=0, limit=50
        )
        _, long_runs = await task_run_list(conn, task_id=long.id)
        assert await worker_list(conn) == []
    assert long_runs == 0
    assert all(x.attempt == 0 and x.locked_by is None for x in works)


async def test_a_local_signal_wakes_an_idle_worker_at_once(store: Store, wait_for: WaitFor) -> None:
    signal = LocalSignal()
    runner = SleepingRunner()
    w = Worker(settings(WORKER_POLL_INTERVAL=30), store, CLOCK, runner, wakeup=signal)
    await w.start()
    try:
        await asyncio.sleep(0.1)  # let it go idle on its 30 s poll
        await make_task(store, sleep=0)
        began = asyncio.get_running_loop().time()
        signal.set()
        await wait_for(lambda: runner.started, timeout=5)
        assert asyncio.get_running_loop().time() - began < 2
    finally:
        await w.stop()


async def test_an_idle_worker_wakes_for_the_earliest_future_run(
    store: Store, wait_for: WaitFor
) -> None:
    task = await make_task(store, sleep=0, count=0)
    runner = SleepingRunner()
    w = Worker(settings(WORKER_POLL_INTERVAL=30), store, CLOCK, runner)
    at = datetime.now(UTC) + timedelta(seconds=0.5)
    async with store.transaction() as conn:
        await due_work_enqueue(conn, [occurrence(task, at, at)])
    await w.start()
    try:
        await wait_for(lambda: runner.started, timeout=5)
        assert datetime.now(UTC) >= at
    finally:
        await w.stop()
    async with store.connect() as conn:
        count = (await conn.execute(sa.text("SELECT count(*) FROM task_run"))).scalar_one()
    assert count == 1
