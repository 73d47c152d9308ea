"""Real worker processes against PostgreSQL: exactly once, kill -9, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ordinaut.core.clock import SystemClock
from ordinaut.core.models import Task
from ordinaut.services.agents import create_agent
from ordinaut.services.tasks import occurrence_row as occurrence
from ordinaut.store.engine import Store
from ordinaut.store.occurrences import due_work_enqueue
from ordinaut.store.runs import task_run_list

WaitFor = Callable[..., Awaitable[None]]
CLOCK = SystemClock()
WORKER_CODE = (
    "from ordinaut.core.settings import Settings; from ordinaut.worker.main import run_worker; "
    "run_worker(Settings())"
)
pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


def pipeline(step: dict[str, Any]) -> dict[str, Any]:
    return {"params": {}, "pipeline": [{"id": "only", **step}]}


ECHO = pipeline({"uses": "echo.message", "with": {"message": "${run.attempt}"}})


async def make_tasks(
    store: Store, count: int, payload: dict[str, Any], **changes: Any
) -> list[Task]:
    now = CLOCK.now()
    async with store.transaction() as conn:
        name = f"agent-{uuid.uuid4().hex[:8]}"
        agent = (await create_agent(conn, name=name, scopes=["tasks:read"], clock=CLOCK)).agent
        tasks = []
        for _ in range(count):
            values: dict[str, Any] = {
                "id": str(uuid.uuid4()), "title": "t", "description": "", "created_by": agent.id,
                "schedule_kind": "cron", "schedule_expr": "* * * * *", "timezone": "UTC",
                "dtstart": now, "payload": payload, "status": "active", "priority": 5,
                "max_retries": 2, "backoff_strategy": "fixed", "dedupe_key": None,
                "dedupe_window_seconds": 0, "concurrency_key": None, "dst_gap": "shift",
                "dst_overlap": "first", "catchup": "latest", "misfire_grace_seconds": 30,
                "next_run_at": None, "last_run_at": None, "created_at": now, "updated_at": now,
            }  # fmt: skip
            await conn.execute(sa.text("SELECT 1"))
            from ordinaut.store.tasks import task_insert

            tasks.append(await task_insert(conn, values | changes))
    return tasks


async def enqueue(store: Store, tasks: list[Task], per_task: int, offset: timedelta) -> None:
    now = CLOCK.now()
    items = [
        occurrence(t, now + offset + timedelta(seconds=i), now + offset)
        for t in tasks
        for i in range(per_task)
    ]
    async with store.transaction() as conn:
        await due_work_enqueue(conn, items)


class Workers:
    """Worker processes started with `ordinaut.worker.main.run_worker`, logs in tmp files."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url, self.logs = url, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, **env: Any) -> subprocess.Popen[bytes]:
        environ = {
            **os.environ,
            "DATABASE_URL": self.url,
            "LOG_LEVEL": "WARNING",
            "WORKER_POLL_INTERVAL": "0.2",
            **{k: str(v) for k, v in env.items()},
        }
        with open(self.logs / f"worker-{len(self.procs)}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-c", WORKER_CODE], env=environ, stderr=log)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(db_url, tmp_path)
    yield group
    group.stop_all()


async def scalar(store: Store, sql: str, **params: Any) -> Any:
    async with store.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar_one()


async def test_four_workers_run_every_occurrence_exactly_once(
    store: Store, workers: Workers, wait_for: WaitFor
) -> None:
    tasks = await make_tasks(store, 50, ECHO)
    await enqueue(store, tasks, 100, timedelta(seconds=-1))
    await enqueue(store, tasks[:10], 2, timedelta(hours=1))  # never due during the test
    for _ in range(4):
        workers.spawn(WORKER_CONCURRENCY=64, WORKER_BATCH_SIZE=64)

    async def drained() -> bool:
        done = await scalar(store, "SELECT count(*) FROM due_work WHERE state = 'succeeded'")
        return bool(done == 5000)

    await wait_for(drained, timeout=60, interval=0.2)
    per_work = await scalar(
        store,
        "SELECT count(*) FROM (SELECT due_work_id FROM task_run GROUP BY due_work_id "
        "HAVING count(*) = 1 AND bool_and(success)) ok",
    )
    assert per_work == 5000
    assert await scalar(store, "SELECT count(*) FROM task_run") == 5000
    assert await scalar(store, "SELECT count(DISTINCT worker_id) FROM task_run") >= 2
    assert (
        await scalar(
            store,
            "SELECT count(*) FROM due_work d WHERE d.state = 'scheduled' AND attempt = 0 "
            "AND NOT EXISTS (SELECT 1 FROM task_run r WHERE r.due_work_id = d.id)",
        )
        == 20
    )


async def test_a_killed_worker_s_occurrence_runs_again_elsewhere(
    store: Store, workers: Workers, wait_for: WaitFor
) -> None:
    [task] = await make_tasks(store, 1, pipeline({"uses": "time.sleep", "with": {"seconds": 1.5}}))
    await enqueue(store, [task], 1, timedelta(seconds=-1))
    doomed = workers.spawn(WORKER_LEASE_SECONDS=1)
    running = "SELECT count(*) FROM due_work WHERE state = 'running'"
    await wait_for(lambda: scalar(store, running), timeout=20)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    workers.spawn(WORKER_LEASE_SECONDS=1)
    done = "SELECT count(*) FROM due_work WHERE state = 'succeeded'"
    await wait_for(lambda: scalar(store, done), timeout=30, interval=0.1)
    async with store.connect() as conn:
        runs, _ = await task_run_list(conn, task_id=task.id)
    runs.sort(key=lambda r: r.attempt)
    assert [(r.attempt, r.success, r.error) for r in runs] == [
        (1, False, "worker lost"),
        (2, True, None),
    ]
    assert runs[0].worker_id != runs[1].worker_id


async def test_sigterm_lets_the_running_pipeline_finish(
    store: Store, workers: Workers, wait_for: WaitFor
) -> None:
    [task] = await make_tasks(store, 1, pipeline({"uses": "time.sleep", "with": {"seconds": 1}}))
    await enqueue(store, [task], 1, timedelta(seconds=-1))
    proc = workers.spawn(WORKER_SHUTDOWN_TIMEOUT=10)
    await wait_for(lambda: scalar(store, "SELECT count(*) FROM due_work WHERE state = 'running'"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert await scalar(store, "SELECT state FROM due_work") == "succeeded"
    assert await scalar(store, "SELECT count(*) FROM worker") == 0
    assert await scalar(store, "SELECT success FROM task_run WHERE task_id = :t", t=task.id)
