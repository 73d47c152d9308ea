"""Queue throughput on PostgreSQL and SQLite: enqueue rate, drain rate, pick-up latency.

    .venv/bin/python bench/throughput.py [--pg postgresql://postgres@localhost/postgres]
        [--runs 20000] [--runner noop|pipeline] [--skip-sqlite] [--skip-pg]

Each backend gets a fresh, migrated database. Drains use real worker processes (this script
re-run with --worker) on one-step pipelines: `noop` is a runner returning success at once,
`pipeline` runs the real engine on an `echo.message` step. Every run writes its task_run row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from ordinaut.core.clock import SystemClock
from ordinaut.core.models import DueWork, Task
from ordinaut.core.settings import Settings
from ordinaut.core.signals import LocalSignal
from ordinaut.pipeline.catalog import build_registry
from ordinaut.services.agents import create_agent
from ordinaut.services.tasks import occurrence_row as occurrence
from ordinaut.store.engine import Store
from ordinaut.store.migrate import upgrade
from ordinaut.store.notify import notify
from ordinaut.store.occurrences import due_work_enqueue
from ordinaut.store.tasks import task_insert
from ordinaut.worker.loop import Worker
from ordinaut.worker.runner import PipelineRunner, RunOutcome, TaskPipelineRunner

CLOCK = SystemClock()
OBSERVER_DELAY = 0.02
STEP = {"id": "only", "uses": "echo.message", "with": {"message": "${run.id}"}}
PAYLOAD = {"params": {}, "pipeline": [STEP]}
# no-op pipelines finish at once: big batches spread each statement's fixed cost (planning,
# round trip, commit) over more runs; 2 batches in flight keep the claim and finish busy
WORKER_ENV = {
    "WORKER_CONCURRENCY": "512",
    "WORKER_BATCH_SIZE": "256",
    "WORKER_POLL_INTERVAL": "0.5",
}


class NoopRunner:
    async def __call__(
        self, task: Task, work: DueWork, run_id: str, event: dict[str, Any] | None
    ) -> RunOutcome:
        return RunOutcome(True, {"steps": []}, None, False)


async def make_runner(kind: str, store: Store) -> PipelineRunner:
    if kind == "noop":
        return NoopRunner()
    return TaskPipelineRunner(await build_registry(Settings()), CLOCK, store)


# ------------------------------------------------------------------------- worker process


def worker_main(url: str, runner_kind: str) -> None:
    async def serve() -> None:
        store = Store(url)
        worker = Worker(Settings(), store, CLOCK, await make_runner(runner_kind, store))
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.request_stop)
        await worker.run_until_stopped()
        await store.dispose()

    asyncio.run(serve())


def spawn_workers(url: str, count: int, runner: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, **WORKER_ENV, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, __file__, "--worker", url, "--runner", runner]
    return [subprocess.Popen(cmd, env=env) for _ in range(count)]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(30)


# ------------------------------------------------------------------------------ scenarios


async def make_task(store: Store) -> Task:
    now = CLOCK.now()
    async with store.transaction() as conn:
        name = f"bench-{uuid.uuid4().hex[:6]}"
        agent = (await create_agent(conn, name=name, scopes=[], clock=CLOCK)).agent
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()), "title": "bench", "description": "", "created_by": agent.id,
            "schedule_kind": "event", "schedule_expr": "bench", "timezone": "UTC", "dtstart": now,
            "payload": PAYLOAD, "status": "active", "priority": 5, "max_retries": 0,
            "backoff_strategy": "fixed", "dedupe_key": None, "dedupe_window_seconds": 0,
            "concurrency_key": None, "dst_gap": "shift", "dst_overlap": "first",
            "catchup": "latest", "misfire_grace_seconds": 30, "next_run_at": None,
            "last_run_at": None, "created_at": now, "updated_at": now,
        }  # fmt: skip
        return await task_insert(conn, values)


_serial = 0


def occurrences(task: Task, count: int) -> list[dict[str, Any]]:
    global _serial
    base = datetime(2020, 1, 1, tzinfo=UTC)
    now = CLOCK.now()
    items = [
        occurrence(task, base + timedelta(microseconds=_serial + i), now) for i in range(count)
    ]
    _serial += count
    return items


async def enqueue_one_by_one(store: Store, task: Task, count: int) -> float:
    began = time.perf_counter()
    for item in occurrences(task, count):
        async with store.transaction() as conn:
            await due_work_enqueue(conn, [item])
            await notify(conn)
    return count / (time.perf_counter() - began)


async def enqueue_bulk(store: Store, task: Task, count: int) -> float:
    items = occurrences(task, count)
    began = time.perf_counter()
    async with store.transaction() as conn:
        await due_work_enqueue(conn, items)
        await notify(conn)
    return count / (time.perf_counter() - began)


async def run_started_at(store: Store, work_id: str) -> Any:
    query = sa.text("SELECT started_at FROM task_run WHERE due_work_id = :i")
    async with store.connect() as conn:
        return (await conn.execute(query, {"i": work_id})).scalar_one_or_none()


async def scalar(store: Store, sql: str) -> Any:
    async with store.connect() as conn:
        return (await conn.execute(sa.text(sql))).scalar_one()


async def reset(store: Store) -> None:
    async with store.transaction() as conn:
        await conn.execute(sa.text("DELETE FROM task_run"))
        await conn.execute(sa.text("DELETE FROM outbox"))
        await conn.execute(sa.text("DELETE FROM due_work"))


async def wait_registered(store: Store, count: int) -> None:
    while await scalar(store, "SELECT count(*) FROM worker") < count:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


async def drain(store: Store, task: Task, runs: int, processes: int, runner: str) -> float:
    """Runs per second from the commit of `runs` occurrences to the last run's finish."""
    await reset(store)
    procs = spawn_workers(store.url, processes, runner)
    try:
        await wait_registered(store, processes)
        items = occurrences(task, runs)
        async with store.transaction() as conn:
            await due_work_enqueue(conn, items)
            await notify(conn)
        committed = time.time()
        while await scalar(store, "SELECT count(*) FROM task_run") < runs:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        last = await scalar(store, "SELECT max(finished_at) FROM task_run")
        last = last if isinstance(last, datetime) else datetime.fromisoformat(last)
        return runs / (last.replace(tzinfo=UTC).timestamp() - committed)
    finally:
        stop_workers(procs)


async def pickup_latency(
    store: Store, task: Task, samples: int, runner: str, *, in_process: bool
) -> list[float]:
    """ms from an occurrence becoming claimable (its commit) to its pipeline starting."""
    await reset(store)
    signal_ = LocalSignal()
    procs: list[subprocess.Popen[bytes]] = []
    worker: Worker | None = None
    if in_process:
        runner_ = await make_runner(runner, store)
        worker = Worker(Settings(**WORKER_ENV), store, CLOCK, runner_, wakeup=signal_)
        await worker.start()
    else:
        procs = spawn_workers(store.url, 2, runner)
        await wait_registered(store, 2)
    latencies = []
    try:
        for item in occurrences(task, samples):
            async with store.transaction() as conn:
                [work_id] = await due_work_enqueue(conn, [item])
                await notify(conn)
            committed = time.time()
            signal_.set()
            # the latency is read from the run row, so the observer need not watch closely:
            # polling every few ms took CPU from the workers it was measuring
            await asyncio.sleep(OBSERVER_DELAY)
            while (started := await run_started_at(store, work_id)) is None:  # noqa: ASYNC110
                await asyncio.sleep(OBSERVER_DELAY)
            started = started if isinstance(started, datetime) else datetime.fromisoformat(started)
            latencies.append((started.replace(tzinfo=UTC).timestamp() - committed) * 1000)
    finally:
        if worker is not None:
            await worker.stop()
        stop_workers(procs)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench_backend(name: str, url: str, args: argparse.Namespace) -> list[tuple[str, str]]:
    upgrade(url)
    store = Store(url)
    task = await make_task(store)
    rows = [
        ("enqueue one by one (occ/s)", f"{await enqueue_one_by_one(store, task, 1000):,.0f}"),
        ("enqueue bulk (occ/s)", f"{await enqueue_bulk(store, task, 20000):,.0f}"),
    ]
    for processes in (1, 2):
        rate = await drain(store, task, args.runs, processes, args.runner)
        rows.append((f"drain, {processes} worker process(es) (runs/s)", f"{rate:,.0f}"))
    lat = await pickup_latency(store, task, 300, args.runner, in_process=name == "SQLite")
    where = "in-process signal" if name == "SQLite" else "LISTEN/NOTIFY, 2 idle workers"
    rows.append(
        (
            f"pick-up latency, {where} (ms)",
            f"p50 {percentile(lat, 0.5):.2f} / p95 {percentile(lat, 0.95):.2f} / "
            f"p99 {percentile(lat, 0.99):.2f} (mean {statistics.mean(lat):.2f})",
        )
    )
    await store.dispose()
    return rows


def pg_database(admin_url: str) -> tuple[str, str]:
    name = f"ordinaut_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rpartition("/")[0] + f"/{name}"


def drop_pg_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default="postgresql://postgres@localhost/postgres")
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--runner", choices=["noop", "pipeline"], default="noop")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.runner)
        return
    results: dict[str, list[tuple[str, str]]] = {}
    if not args.skip_pg:
        name, url = pg_database(args.pg)
        try:
            results["PostgreSQL"] = asyncio.run(bench_backend("PostgreSQL", url, args))
        finally:
            drop_pg_database(args.pg, name)
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            results["SQLite"] = asyncio.run(bench_backend("SQLite", url, args))
    print(
        f"\nOrdinaut queue benchmark ({args.runner} one-step pipelines, "
        f"{args.runs} runs per drain, {os.cpu_count()} CPUs)\n"
    )
    for backend, rows in results.items():
        print(f"{backend}\n" + "\n".join(f"  {label:<52} {value}" for label, value in rows) + "\n")


if __name__ == "__main__":
    main()
