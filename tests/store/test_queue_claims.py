"""The queue's SQL on both dialects: claim order, exclusions, guarded writes, leases, recovery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ordinaut.core.clock import FrozenClock
from ordinaut.core.models import DueWork, Task
from ordinaut.services.agents import create_agent
from ordinaut.services.tasks import occurrence_row as occurrence
from ordinaut.store.engine import Store
from ordinaut.store.occurrences import due_work_enqueue, due_work_get
from ordinaut.store.queue import (
    CANCELED_REASON,
    RUN_NOW_REASON,
    WORKER_LOST,
    due_work_claim,
    due_work_extend_leases,
    due_work_finish_success,
    due_work_next_run_at,
    due_work_release,
)
from ordinaut.store.runs import task_run_list
from ordinaut.store.schema import outbox
from ordinaut.store.tasks import task_insert
from ordinaut.worker.finish import RetryPolicy, recover_expired

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
PAYLOAD = {"params": {}, "pipeline": [{"id": "s", "uses": "echo.message", "with": {"message": 1}}]}


async def make_task(store: Store, clock: FrozenClock, **changes: Any) -> Task:
    async with store.transaction() as conn:
        name = f"agent-{uuid.uuid4().hex[:8]}"
        agent = (await create_agent(conn, name=name, scopes=["tasks:read"], clock=clock)).agent
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "title": "t",
            "description": "",
            "created_by": agent.id,
            "schedule_kind": "cron",
            "schedule_expr": "* * * * *",
            "timezone": "UTC",
            "dtstart": T0,
            "payload": PAYLOAD,
            "status": "active",
            "priority": 5,
            "max_retries": 2,
            "backoff_strategy": "fixed",
            "dedupe_key": None,
            "dedupe_window_seconds": 0,
            "concurrency_key": None,
            "dst_gap": "shift",
            "dst_overlap": "first",
            "catchup": "latest",
            "misfire_grace_seconds": 30,
            "next_run_at": None,
            "last_run_at": None,
            "created_at": T0,
            "updated_at": T0,
        }
        return await task_insert(conn, values | changes)


async def enqueue(
    store: Store, task: Task, *offsets: float, reason: str | None = None
) -> list[str]:
    items = [
        occurrence(task, T0 + timedelta(seconds=s), T0 + timedelta(seconds=s), reason=reason)
        for s in offsets
    ]
    async with store.transaction() as conn:
        return await due_work_enqueue(conn, items)


async def claim(store: Store, worker: str, now: datetime, limit: int = 10) -> list[DueWork]:
    async with store.transaction() as conn:
        claimed = await due_work_claim(
            conn, worker_id=worker, now=now, lease_until=now + LEASE, limit=limit
        )
    return [c.work for c in claimed]


async def get(store: Store, work_id: str) -> DueWork:
    async with store.connect() as conn:
        work = await due_work_get(conn, work_id)
    assert work is not None
    return work


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


async def test_claims_highest_priority_then_oldest_and_only_due(
    store: Store, clock: FrozenClock
) -> None:
    low = await make_task(store, clock, priority=9)
    mid = await make_task(store, clock, priority=5)
    high = await make_task(store, clock, priority=1)
    [low_id] = await enqueue(store, low, -300)
    mid_old, mid_new = await enqueue(store, mid, -200, -100)
    [high_id] = await enqueue(store, high, -10)
    [future] = await enqueue(store, high, 60)
    first = await claim(store, "w1", T0, limit=2)
    assert [w.id for w in first] == [high_id, mid_old]
    rest = await claim(store, "w1", T0, limit=10)
    assert [w.id for w in rest] == [mid_new, low_id]
    assert all(w.state == "running" and w.attempt == 1 and w.locked_by == "w1" for w in rest)
    assert (await get(store, future)).state == "scheduled"
    async with store.connect() as conn:
        assert await due_work_next_run_at(conn, now=T0) == T0 + timedelta(seconds=60)


async def test_concurrency_key_never_runs_twice_at_once(store: Store, clock: FrozenClock) -> None:
    keyed = await make_task(store, clock, concurrency_key="printer")
    other = await make_task(store, clock, concurrency_key="printer")
    free = await make_task(store, clock)
    a, b = await enqueue(store, keyed, -20, -10)
    [c] = await enqueue(store, other, -15)
    [d] = await enqueue(store, free, -5)
    first = await claim(store, "w1", T0)
    assert sorted(w.id for w in first) == sorted([a, d])
    assert await claim(store, "w2", T0) == []
    async with store.transaction() as conn:
        done = await due_work_finish_success(conn, worker_id="w1", attempts=[(a, 1)], now=T0)
    assert done == {(a, 1)}
    assert [w.id for w in await claim(store, "w2", T0)] == [c]
    assert (await get(store, b)).state == "scheduled"


async def test_paused_tasks_wait_except_run_now_and_canceled_tasks_cancel(
    store: Store, clock: FrozenClock
) -> None:
    paused = await make_task(store, clock, status="paused")
    canceled = await make_task(store, clock, status="canceled")
    [waiting] = await enqueue(store, paused, -10)
    [now_run] = await enqueue(store, paused, -5, reason=RUN_NOW_REASON)
    [dropped] = await enqueue(store, canceled, -30)
    claimed = await claim(store, "w1", T0)
    assert [w.id for w in claimed] == [now_run]
    assert (await get(store, waiting)).state == "scheduled"
    gone = await get(store, dropped)
    assert (gone.state, gone.reason, gone.attempt, gone.finished_at) == (
        "canceled",
        CANCELED_REASON,
        0,
        T0,
    )


async def test_writes_after_the_claim_apply_only_for_the_lease_holder(
    store: Store, clock: FrozenClock
) -> None:
    task = await make_task(store, clock)
    [work_id] = await enqueue(store, task, 0)
    assert len(await claim(store, "w1", T0)) == 1
    async with store.transaction() as conn:
        assert (
            await due_work_finish_success(conn, worker_id="w2", attempts=[(work_id, 1)], now=T0)
            == set()
        )
        assert (
            await due_work_finish_success(conn, worker_id="w1", attempts=[(work_id, 2)], now=T0)
            == set()
        )
        later = T0 + timedelta(seconds=100)
        assert await due_work_extend_leases(
            conn, worker_id="w1", attempts=[(work_id, 1)], until=later
        ) == {(work_id, 1)}
    assert (await get(store, work_id)).locked_until == later
    async with store.transaction() as conn:
        released = await due_work_release(
            conn, worker_id="w1", attempts=[(work_id, 1)], now=T0, reason="shutdown"
        )
    assert released == {(work_id, 1)}
    back = await get(store, work_id)
    assert (back.state, back.attempt, back.locked_by, back.reason) == (
        "scheduled",
        0,
        None,
        "shutdown",
    )


async def test_expired_lease_is_recovered_as_a_lost_attempt(
    store: Store, clock: FrozenClock
) -> None:
    task = await make_task(store, clock, max_retries=1, backoff_strategy="fixed")
    [work_id] = await enqueue(store, task, 0)
    await claim(store, "gone", T0)
    policy = RetryPolicy(max_delay=300, random=lambda: 0.0)
    async with store.transaction() as conn:
        assert await recover_expired(conn, policy=policy, now=T0 + LEASE / 2) == 0
    late = T0 + LEASE + timedelta(seconds=1)
    async with store.transaction() as conn:
        assert await recover_expired(conn, policy=policy, now=late) == 1
    work = await get(store, work_id)
    assert (work.state, work.attempt, work.reason) == ("retrying", 1, WORKER_LOST)
    assert work.run_at == late + timedelta(seconds=1)
    [again] = await claim(store, "w2", late + timedelta(seconds=1))
    assert again.attempt == 2
    final = late + timedelta(seconds=1) + LEASE * 2
    async with store.transaction() as conn:
        assert await recover_expired(conn, policy=policy, now=final) == 1
    work = await get(store, work_id)
    assert (work.state, work.finished_at) == ("failed", final)
    async with store.connect() as conn:
        runs, total = await task_run_list(conn, task_id=task.id)
        kinds = (await conn.execute(sa.select(outbox.c.event_type))).scalars().all()
    assert total == 2
    assert sorted((r.attempt, r.success, r.error, r.worker_id) for r in runs) == [
        (1, False, WORKER_LOST, "gone"),
        (2, False, WORKER_LOST, "w2"),
    ]
    assert sorted(kinds) == [
        "occurrence.failed",
        "run.failed",
        "run.failed",
        "run.started",
        "run.started",
    ]
