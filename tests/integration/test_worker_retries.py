"""Retries and run records through `Worker.run_once`, with a frozen clock and fixed jitter."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ordinaut.core.clock import FrozenClock
from ordinaut.core.models import DueWork, Task
from ordinaut.core.settings import Settings
from ordinaut.services.agents import create_agent
from ordinaut.services.tasks import occurrence_row as occurrence
from ordinaut.store.engine import Store
from ordinaut.store.occurrences import due_work_enqueue, due_work_get
from ordinaut.store.runs import task_run_list
from ordinaut.store.schema import outbox
from ordinaut.store.tasks import task_get, task_insert
from ordinaut.worker.backoff import exponential_jitter, fixed, linear, retry_delay
from ordinaut.worker.loop import Worker
from ordinaut.worker.runner import RunOutcome

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class ScriptedRunner:
    """A second `PipelineRunner`: real coroutines returning scripted outcomes, or raising."""

    def __init__(self, *outcomes: RunOutcome | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, int]] = []

    async def __call__(
        self, task: Task, work: DueWork, run_id: str, event: dict[str, Any] | None
    ) -> RunOutcome:
        self.calls.append((work.id, work.attempt))
        await asyncio.sleep(0)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


FAIL = RunOutcome(False, {"steps": []}, "boom", True)
FATAL = RunOutcome(False, {"steps": []}, "unknown tool", False)
OK = RunOutcome(True, {"steps": [{"id": "s", "status": "ok"}]}, None, False)


async def make_task(store: Store, clock: FrozenClock, **changes: Any) -> Task:
    async with store.transaction() as conn:
        name = f"agent-{uuid.uuid4().hex[:8]}"
        agent = (await create_agent(conn, name=name, scopes=["tasks:read"], clock=clock)).agent
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()), "title": "t", "description": "", "created_by": agent.id,
            "schedule_kind": "cron", "schedule_expr": "* * * * *", "timezone": "UTC",
            "dtstart": T0, "payload": {"pipeline": []}, "status": "active", "priority": 5,
            "max_retries": 3, "backoff_strategy": "exponential_jitter", "dedupe_key": None,
            "dedupe_window_seconds": 0, "concurrency_key": None, "dst_gap": "shift",
            "dst_overlap": "first", "catchup": "latest", "misfire_grace_seconds": 30,
            "next_run_at": None, "last_run_at": None, "created_at": T0, "updated_at": T0,
        }  # fmt: skip
        task = await task_insert(conn, values | changes)
        await due_work_enqueue(conn, [occurrence(task, T0, T0)])
        return task


def worker(store: Store, clock: FrozenClock, runner: ScriptedRunner, jitter: float = 0.5) -> Worker:
    settings = Settings(WORKER_BACKOFF_MAX_DELAY=300, WORKER_BATCH_SIZE=10)
    return Worker(settings, store, clock, runner, worker_id="w1", random_source=lambda: jitter)


async def only_work(store: Store, task: Task) -> DueWork:
    async with store.connect() as conn:
        work_id = (
            await conn.execute(
                sa.text("SELECT id FROM due_work WHERE task_id = :t"), {"t": task.id}
            )
        ).scalar_one()
        work = await due_work_get(conn, work_id)
    assert work is not None
    return work


@pytest.mark.parametrize(
    ("strategy", "delays"),
    [
        ("exponential_jitter", [0.75, 1.5, 3.0]),
        ("linear", [1.0, 2.0, 3.0]),
        ("fixed", [1.0, 1.0, 1.0]),
    ],
)
async def test_retries_follow_the_strategy_then_fail(
    store: Store, strategy: str, delays: list[float]
) -> None:
    clock = FrozenClock(T0)
    task = await make_task(store, clock, backoff_strategy=strategy, max_retries=3)
    w = worker(store, clock, ScriptedRunner(FAIL))
    for attempt, delay in enumerate(delays, start=1):
        assert await w.run_once() == 1
        work = await only_work(store, task)
        assert (work.state, work.attempt, work.reason) == ("retrying", attempt, "boom")
        assert work.run_at == clock.now() + timedelta(seconds=delay)
        clock.advance(delay - 0.001)
        assert await w.run_once() == 0  # not due yet
        clock.advance(0.001)
    assert await w.run_once() == 1
    work = await only_work(store, task)
    assert (work.state, work.attempt, work.finished_at) == ("failed", 4, clock.now())
    async with store.connect() as conn:
        runs, total = await task_run_list(conn, task_id=task.id)
        kinds = (await conn.execute(sa.select(outbox.c.event_type))).scalars().all()
    assert total == 4 and all(r.success is False and r.error == "boom" for r in runs)
    assert sorted(r.attempt for r in runs) == [1, 2, 3, 4]
    assert kinds.count("occurrence.failed") == 1 and kinds.count("run.failed") == 4


async def test_an_error_retrying_cannot_fix_fails_at_once(store: Store) -> None:
    clock = FrozenClock(T0)
    task = await make_task(store, clock, max_retries=5)
    assert await worker(store, clock, ScriptedRunner(FATAL)).run_once() == 1
    work = await only_work(store, task)
    assert (work.state, work.attempt, work.reason) == ("failed", 1, "unknown tool")


async def test_a_runner_that_raises_is_a_retryable_failure(store: Store) -> None:
    clock = FrozenClock(T0)
    task = await make_task(store, clock, max_retries=1, backoff_strategy="fixed")
    runner = ScriptedRunner(RuntimeError("bug"), OK)
    w = worker(store, clock, runner)
    await w.run_once()
    assert (await only_work(store, task)).reason == "RuntimeError: bug"
    clock.advance(1)
    await w.run_once()
    work = await only_work(store, task)
    assert (work.state, work.attempt) == ("succeeded", 2)


async def test_success_writes_the_run_and_completes_a_one_shot(store: Store) -> None:
    clock = FrozenClock(T0)
    task = await make_task(store, clock, schedule_kind="once", schedule_expr=T0.isoformat())
    clock.advance(2)
    assert await worker(store, clock, ScriptedRunner(OK)).run_once() == 1
    async with store.connect() as conn:
        [run], _ = await task_run_list(conn, task_id=task.id)
        fresh = await task_get(conn, task.id)
    assert (run.success, run.attempt, run.worker_id, run.output) == (True, 1, "w1", OK.output)
    assert run.started_at == run.finished_at == clock.now() and run.duration_ms is not None
    assert fresh is not None and fresh.status == "completed" and fresh.last_run_at == clock.now()
    assert (await only_work(store, task)).state == "succeeded"


async def test_a_late_result_after_the_lease_was_lost_is_dropped(store: Store) -> None:
    clock = FrozenClock(T0)
    task = await make_task(store, clock)
    slow = worker(store, clock, ScriptedRunner(OK))
    [claimed] = await slow.claim(1)
    clock.advance(Settings().worker_lease_seconds + 1)
    rescuer = Worker(Settings(), store, clock, ScriptedRunner(OK), worker_id="w2")
    assert await rescuer.sweep() == 1
    await slow.finish([await slow.execute(claimed)])
    async with store.connect() as conn:
        runs, _ = await task_run_list(conn, task_id=task.id)
    assert [(r.worker_id, r.success, r.error) for r in runs] == [("w1", False, "worker lost")]
    assert (await only_work(store, task)).state == "retrying"


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999999])
@pytest.mark.parametrize("attempt", [1, 2, 5, 12])
def test_exponential_jitter_stays_in_bounds(attempt: int, jitter: float) -> None:
    raw = min(2.0 ** (attempt - 1), 300.0)
    delay = exponential_jitter(attempt, max_delay=300.0, random=lambda: jitter)
    assert raw * 0.5 <= delay <= raw
    assert delay == pytest.approx(raw * (0.5 + 0.5 * jitter))


def test_linear_and_fixed_are_capped() -> None:
    assert [linear(n, max_delay=3.0) for n in (1, 2, 3, 9)] == [1.0, 2.0, 3.0, 3.0]
    assert fixed(max_delay=0.25) == 0.25
    assert retry_delay("fixed", 7, max_delay=60, random=lambda: 0.0) == 1.0
