"""Run records and the worker registry on both dialects: filters, latest, stats."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ordinaut.core.clock import FrozenClock
from ordinaut.services.agents import create_agent
from ordinaut.services.tasks import occurrence_row as occurrence
from ordinaut.store.engine import Store
from ordinaut.store.occurrences import due_work_enqueue
from ordinaut.store.runs import (
    Run,
    task_run_get,
    task_run_insert_many,
    task_run_latest,
    task_run_list,
    task_run_stats,
)
from ordinaut.store.tasks import task_insert
from ordinaut.store.workers import (
    WorkerInfo,
    worker_deregister,
    worker_heartbeat,
    worker_list,
    worker_prune_stale,
    worker_register,
)

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


async def seed(store: Store) -> tuple[str, str, list[Run]]:
    """Two tasks of two agents; task A has three runs (one failed), task B one."""
    clock = FrozenClock(T0)
    runs: list[Run] = []
    task_ids, owners = [], []
    async with store.transaction() as conn:
        for n in range(2):
            name = f"agent-{uuid.uuid4().hex[:8]}"
            agent = (await create_agent(conn, name=name, scopes=[], clock=clock)).agent
            values: dict[str, Any] = {
                "id": str(uuid.uuid4()), "title": "t", "description": "", "created_by": agent.id,
                "schedule_kind": "cron", "schedule_expr": "* * * * *", "timezone": "UTC",
                "dtstart": T0, "payload": {}, "status": "active", "priority": 5,
                "max_retries": 0, "backoff_strategy": "fixed", "dedupe_key": None,
                "dedupe_window_seconds": 0, "concurrency_key": None, "dst_gap": "shift",
                "dst_overlap": "first", "catchup": "latest", "misfire_grace_seconds": 30,
                "next_run_at": None, "last_run_at": None, "created_at": T0, "updated_at": T0,
            }  # fmt: skip
            task = await task_insert(conn, values)
            task_ids.append(task.id)
            owners.append(agent.id)
            count = 3 if n == 0 else 1
            items = [
                occurrence(task, T0 + timedelta(hours=i), T0 + timedelta(hours=i))
                for i in range(count)
            ]
            for i, work_id in enumerate(sorted(await due_work_enqueue(conn, items))):
                started = T0 + timedelta(days=i, minutes=n)
                ok = not (n == 0 and i == 1)
                runs.append(
                    Run(str(uuid.uuid4()), task.id, work_id, 1, "w", started,
                        started + timedelta(seconds=2), 2000.0 + i, ok,
                        None if ok else "boom", {"steps": []})
                )  # fmt: skip
        await task_run_insert_many(conn, runs)
    return task_ids[0], owners[1], runs


async def test_run_queries_filter_and_summarise(store: Store) -> None:
    task_a, owner_b, runs = await seed(store)
    async with store.connect() as conn:
        listed, total = await task_run_list(conn, task_id=task_a, limit=2)
        failed, failed_total = await task_run_list(conn, success=False)
        window, window_total = await task_run_list(
            conn, start_time=T0 + timedelta(hours=12), end_time=T0 + timedelta(days=2)
        )
        of_b, b_total = await task_run_list(conn, created_by=owner_b)
        latest = await task_run_latest(conn, task_a)
        one = await task_run_get(conn, runs[0].id)
        stats = await task_run_stats(conn, task_id=task_a, since=T0)
        summary = await task_run_stats(conn, since=T0 + timedelta(hours=12))
    assert total == 3 and len(listed) == 2 and listed[0].started_at > listed[1].started_at
    assert failed_total == 1 and failed[0].error == "boom"
    assert window_total == 1 and window[0].started_at == T0 + timedelta(days=1)
    assert b_total == 1 and of_b[0].task_id != task_a
    assert latest is not None and latest.started_at == T0 + timedelta(days=2)
    assert one == runs[0]
    assert (stats.total, stats.succeeded, stats.failed, stats.task_count) == (3, 2, 1, 1)
    assert stats.success_rate == round(2 / 3, 4) and stats.avg_duration_ms == 2001.0
    assert stats.last_started_at == T0 + timedelta(days=2)
    assert (summary.total, summary.task_count) == (2, 1)


async def test_worker_registry_lifecycle(store: Store) -> None:
    info = WorkerInfo("w-1", "worker", "host", 42, "1.0", T0, T0, 0, 0, {"concurrency": 8})
    async with store.transaction() as conn:
        await worker_register(conn, info)
        await worker_register(conn, info)  # a restart under the same id replaces the row
        later = T0 + timedelta(seconds=30)
        assert await worker_heartbeat(conn, "w-1", now=later, running=3, processed=10)
        assert not await worker_heartbeat(conn, "other", now=later, running=0, processed=0)
    async with store.connect() as conn:
        [row] = await worker_list(conn, kind="worker")
    assert (row.last_seen_at, row.running, row.processed, row.info) == (later, 3, 10, info.info)
    async with store.transaction() as conn:
        assert await worker_prune_stale(conn, seen_before=later) == 0
        assert await worker_prune_stale(conn, seen_before=later + timedelta(seconds=1)) == 1
        await worker_register(conn, info)
        await worker_deregister(conn, "w-1")
        assert await worker_list(conn) == []
