"""Real scheduler processes against PostgreSQL: exactly once across three, kill -9, wake-ups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.pipeline import build_registry
from ordinaut.services.agents import create_agent
from ordinaut.services.context import ServiceContext
from ordinaut.services.task_inputs import TaskDraft
from ordinaut.services.tasks import create_task
from ordinaut.store.engine import Store
from ordinaut.store.schema import due_work, task, worker

WaitFor = Callable[..., Awaitable[None]]
CLOCK = SystemClock()
SCHEDULER_CODE = (
    "from ordinaut.core.settings import Settings; "
    "from ordinaut.scheduling.main import run_scheduler; run_scheduler(Settings())"
)
PIPELINE = {"pipeline": [{"id": "hi", "uses": "echo.message", "with": {"message": "hi"}}]}
pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


class Schedulers:
    """Scheduler processes running `run_scheduler`, each with its own application_name."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url, self.logs = url, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, **env: Any) -> subprocess.Popen[bytes]:
        environ = {
            **os.environ,
            "DATABASE_URL": f"{self.url}?application_name={name}",
            "LOG_LEVEL": "WARNING",
            **{k: str(v) for k, v in env.items()},
        }
        with open(self.logs / f"{name}.log", "wb") as log:  # the child keeps its own handle
            proc = subprocess.Popen([sys.executable, "-c", SCHEDULER_CODE], env=environ, stderr=log)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def schedulers(db_url: str, tmp_path: Path) -> Iterator[Schedulers]:
    group = Schedulers(db_url, tmp_path)
    yield group
    group.kill_all()


async def registered(store: Store) -> list[dict[str, Any]]:
    async with store.connect() as conn:
        rows = await conn.execute(sa.select(worker).where(worker.c.kind == "scheduler"))
        return [dict(r) for r in rows.mappings()]


async def seed_every_second(store: Store, count: int, first: datetime) -> list[str]:
    """`count` tasks on the 6-field cron `* * * * * *`, first due at `first`."""
    now = CLOCK.now()
    async with store.transaction() as conn:
        agent = (await create_agent(conn, name="race", scopes=["admin"], clock=CLOCK)).agent
        ids = [str(uuid.uuid4()) for _ in range(count)]
        values = dict(
            title="t", created_by=agent.id, schedule_kind="cron", schedule_expr="* * * * * *",
            timezone="UTC", dtstart=now, payload=PIPELINE, status="active",
            backoff_strategy="fixed", dst_gap="shift", dst_overlap="first", catchup="latest",
            misfire_grace_seconds=30, next_run_at=first, created_at=now, updated_at=now,
        )  # fmt: skip
        await conn.execute(task.insert(), [{"id": i, **values} for i in ids])
    return ids


def in_open_tick(conn: psycopg.Connection[Any], name: str) -> bool:
    """True while `name`'s connection holds an uncommitted tick that has written rows."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        " AND backend_xid IS NOT NULL AND state IN ('active', 'idle in transaction')"
        " AND (query ILIKE '%%due_work%%' OR query ILIKE '%%UPDATE task%%'"
        "      OR query ILIKE '%%outbox%%' OR query ILIKE '%%pg_notify%%')",
        (name,),
    ).fetchone()
    return bool(row and row[0])


async def test_three_schedulers_one_killed_mid_tick_enqueue_every_second_exactly_once(
    store: Store, db_url: str, schedulers: Schedulers, wait_for: WaitFor
) -> None:
    first = (CLOCK.now() + timedelta(seconds=3)).replace(microsecond=0)
    ids = await seed_every_second(store, 400, first)
    env = {"SCHEDULER_BATCH_SIZE": 60, "SCHEDULER_MAX_SLEEP": 1}
    for name in ("sched-a", "sched-b", "victim"):
        schedulers.spawn(name, **env)
    await wait_for(lambda: _count_registered(store, 3), timeout=20)

    # kill -9 the victim while its tick transaction is open, between its writes and its commit
    with psycopg.connect(db_url, autocommit=True) as watcher:
        await wait_for(lambda: in_open_tick(watcher, "victim"), timeout=15, interval=0.001)
        schedulers.procs["victim"].kill()
    killed_at = CLOCK.now()
    assert schedulers.procs["victim"].wait(5) == -signal.SIGKILL

    # the survivors go on: every task gets two more seconds enqueued after the kill
    await wait_for(lambda: _all_advanced_past(store, killed_at + timedelta(seconds=2)), timeout=20)
    for name in ("sched-a", "sched-b"):
        schedulers.procs[name].send_signal(signal.SIGTERM)
    for name in ("sched-a", "sched-b"):
        assert schedulers.procs[name].wait(15) == 0, schedulers.log(name)

    async with store.connect() as conn:
        ledger = await conn.execute(
            sa.select(due_work.c.task_id, due_work.c.scheduled_for, due_work.c.state)
        )
        next_runs = dict((await conn.execute(sa.select(task.c.id, task.c.next_run_at))).all())
    fires: dict[str, list[datetime]] = {i: [] for i in ids}
    for task_id, scheduled_for, state in ledger.all():
        assert state == "scheduled"  # nothing became a misfire
        fires[task_id].append(scheduled_for)
    for task_id, seen in fires.items():
        expected = _seconds_between(first, next_runs[task_id])
        assert sorted(seen) == expected  # every second up to next_run_at, once each: no gaps
    # a clean stop leaves the registry; the killed process's row stays until pruned as stale
    assert [r["pid"] for r in await registered(store)] == [schedulers.procs["victim"].pid]


async def _count_registered(store: Store, count: int) -> bool:
    return len(await registered(store)) >= count


async def _all_advanced_past(store: Store, instant: datetime) -> bool:
    async with store.connect() as conn:
        earliest = (await conn.execute(sa.select(sa.func.min(task.c.next_run_at)))).scalar_one()
    return bool(earliest > instant)


def _seconds_between(first: datetime, stop: datetime) -> list[datetime]:
    return [first + timedelta(seconds=s) for s in range(int((stop - first).total_seconds()))]


async def test_an_idle_scheduler_wakes_for_a_new_task_and_fires_it_on_time(
    store: Store, db_url: str, schedulers: Schedulers, wait_for: WaitFor
) -> None:
    proc = schedulers.spawn("idle", SCHEDULER_MAX_SLEEP=30)
    await wait_for(lambda: _count_registered(store, 1), timeout=20)
    (row,) = await registered(store)
    assert (row["pid"], row["hostname"], row["info"]["listening"]) == (
        proc.pid,
        os.uname()[1],
        True,
    )
    settings = Settings(DATABASE_URL=db_url)
    ctx = ServiceContext(settings, store, CLOCK, await build_registry(settings))
    async with store.transaction() as conn:
        agent = (await create_agent(conn, name="waker", scopes=["admin"], clock=CLOCK)).agent

    due = CLOCK.now() + timedelta(seconds=1)
    draft = {"title": "soon", "payload": PIPELINE, "schedule_kind": "once"}
    created, _ = await create_task(
        ctx, agent, TaskDraft.model_validate(draft | {"schedule_expr": due.isoformat()})
    )
    await wait_for(lambda: _enqueued(store, created.id), timeout=1.5 + 1.0, interval=0.005)
    lateness = (CLOCK.now() - due).total_seconds()
    assert lateness < 0.5, f"fired {lateness:.3f}s after its time: the wake-up did not arrive"

    # the heartbeat keeps the registry row fresh; SIGTERM stops cleanly and leaves it
    await wait_for(lambda: _seen_since(store, row["last_seen_at"]), timeout=6)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0, schedulers.log("idle")
    assert await registered(store) == []


async def _enqueued(store: Store, task_id: str) -> bool:
    async with store.connect() as conn:
        query = sa.select(sa.func.count()).where(due_work.c.task_id == task_id)
        return bool((await conn.execute(query)).scalar_one())


async def _seen_since(store: Store, instant: datetime) -> bool:
    return any(r["last_seen_at"] > instant for r in await registered(store))
