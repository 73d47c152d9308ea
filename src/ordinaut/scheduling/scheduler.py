"""The scheduler loop: turns due tasks into `due_work` rows and advances `task.next_run_at`.

Any number of schedulers may run against one database: due tasks are claimed with SKIP LOCKED
and the ledger's unique (task_id, scheduled_for) key makes every enqueue exactly-once.

Occurrences are enqueued up to SCHEDULER_LOOKAHEAD seconds before their instant, with run_at
the instant itself: the database work is done ahead, and a worker (which claims only rows
with run_at <= now and sleeps until the earliest future run_at) picks the row up on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.clock import Clock
from ordinaut.core.ids import new_id
from ordinaut.core.loops import LoopComponent
from ordinaut.core.settings import Settings
from ordinaut.core.states import Catchup, ScheduleKind, TaskStatus, WorkState
from ordinaut.scheduling.catchup import FirePlan, plan_fires
from ordinaut.scheduling.task_spec import spec_of
from ordinaut.store.engine import Store
from ordinaut.store.occurrences import due_work_enqueue
from ordinaut.store.scheduling import (
    Claim,
    DueTask,
    task_advance,
    task_claim_due,
    task_next_due_at,
    tick_commit_without_flush,
)

log = structlog.get_logger("ordinaut.scheduler")

STORE_RETRY_SECONDS = 1.0
"""Pause after a failed tick (the database is unreachable or restarting)."""
HELD_ELSEWHERE_RETRY_SECONDS = 0.1
"""Pause when every due task is locked by another scheduler's open transaction."""
BURST_LANES = 2
"""Ticks in flight at once on PostgreSQL while batches come back full (a burst of due tasks)."""


@dataclass(frozen=True)
class TickResult:
    """What one tick did; `next_due` is the earliest next_run_at it saw after its batch and
    `horizon` the latest instant it enqueued up to (`at` plus the lookahead)."""

    tasks: int = 0
    enqueued: int = 0
    missed: int = 0
    at: datetime | None = None
    next_due: datetime | None = None
    horizon: datetime | None = None

    @property
    def busy(self) -> bool:
        return self.tasks > 0


def _rows_for(task: DueTask, plan: FirePlan, now: datetime) -> list[dict[str, Any]]:
    common = {
        "task_id": task.id,
        "max_attempts": task.max_retries + 1,
        "priority": task.priority,
        "concurrency_key": task.concurrency_key,
        "created_at": now,
        "updated_at": now,
    }
    rows = [
        common | {"id": new_id(), "scheduled_for": t, "run_at": t, "state": _SCHEDULED}
        for t in plan.run
    ]
    rows += [
        common
        | {
            "id": new_id(),
            "scheduled_for": m.scheduled_for,
            "run_at": m.scheduled_for,
            "state": _MISSED,
            "reason": m.reason,
            "finished_at": now,
        }
        for m in plan.missed
    ]
    return rows


_SCHEDULED, _MISSED = WorkState.SCHEDULED.value, WorkState.MISSED.value


def _plan_key(task: DueTask) -> tuple[Any, ...]:
    """What a task's plan depends on: tasks with equal keys get equal plans in one tick."""
    anchor = task.dtstart if task.schedule_kind == ScheduleKind.RRULE else None
    return (
        task.schedule_kind, task.schedule_expr, task.timezone, anchor, task.dst_gap,
        task.dst_overlap, task.catchup, task.misfire_grace_seconds, task.next_run_at,
    )  # fmt: skip


def _advance(task: DueTask, plan: FirePlan, now: datetime) -> dict[str, Any]:
    exhausted = plan.next_run_at is None and task.schedule_kind != ScheduleKind.ONCE
    return {
        "id": task.id,
        "next_run_at": plan.next_run_at,
        "status": TaskStatus.COMPLETED.value if exhausted else task.status,
        "updated_at": now,
    }


@dataclass(frozen=True)
class _Batch:
    """What a tick writes: ledger rows, task advances, and the earliest next_run_at after it."""

    rows: list[dict[str, Any]]
    advances: list[dict[str, Any]]
    next_due: datetime | None


@dataclass
class Scheduler(LoopComponent):
    """`await scheduler.tick()` once, or `start()`/`stop()` it as a component of a process.

    `wakeup` is set by whoever changes tasks (the API in-process, or a LISTEN on PostgreSQL);
    `work_signal`, if given, is set after a tick that enqueued something (the embedded worker).
    """

    loop_name: ClassVar[str] = "ordinaut-scheduler"

    settings: Settings
    store: Store
    clock: Clock
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    work_signal: asyncio.Event | None = None
    enqueued_total: int = 0
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False

    async def tick(self) -> TickResult:
        """Handle one batch of due tasks in one transaction."""
        async with self.store.transaction() as conn:
            result = await self._tick_in(conn)
        return self._after_commit(result)

    async def _tick_in(self, conn: AsyncConnection) -> TickResult:
        now = self.clock.now()
        horizon = now + self._lookahead
        limit = self.settings.scheduler_batch_size
        claim = await task_claim_due(conn, until=horizon, limit=limit)
        if not claim.tasks:
            return TickResult(at=now, next_due=claim.others_next_due, horizon=horizon)
        await tick_commit_without_flush(conn)
        batch = self._plan_batch(claim, now, horizon)
        inserted = set(await self._announce(conn, batch, now))
        enqueued = sum(1 for r in batch.rows if r["id"] in inserted and r["state"] == _SCHEDULED)
        missed = len(inserted) - enqueued
        return TickResult(len(claim.tasks), enqueued, missed, now, batch.next_due, horizon)

    @property
    def _lookahead(self) -> timedelta:
        return timedelta(seconds=self.settings.scheduler_lookahead)

    def _plan_batch(self, claim: Claim, now: datetime, horizon: datetime) -> _Batch:
        rows: list[dict[str, Any]] = []
        advances = []
        plans: dict[tuple[Any, ...], FirePlan] = {}  # a burst mostly shares a few schedules
        for task in claim.tasks:
            key = _plan_key(task)
            plan = plans.get(key) or plans.setdefault(key, self._plan(task, now, horizon))
            rows += _rows_for(task, plan, now)
            advances.append(_advance(task, plan, now))
        upcoming = [a["next_run_at"] for a in advances if a["next_run_at"] is not None]
        if claim.others_next_due is not None:
            upcoming.append(claim.others_next_due)
        return _Batch(rows, advances, min(upcoming, default=None))

    async def _announce(self, conn: AsyncConnection, batch: _Batch, now: datetime) -> list[str]:
        """Write the batch: ledger rows with their outbox events and the workers' NOTIFY (one
        round trip), then the task advances. Returns the ids of the rows actually inserted."""
        inserted = await due_work_enqueue(conn, batch.rows, announce_at=now)
        await task_advance(conn, batch.advances)
        return inserted

    def _after_commit(self, result: TickResult) -> TickResult:
        if result.enqueued + result.missed and self.work_signal is not None:
            self.work_signal.set()
        self.enqueued_total += result.enqueued
        return result

    def _plan(self, task: DueTask, now: datetime, horizon: datetime) -> FirePlan:
        try:
            return plan_fires(
                spec_of(task),
                task.next_run_at,
                now,
                grace_seconds=task.misfire_grace_seconds,
                catchup=Catchup(task.catchup),
                horizon=horizon,
            )
        except Exception as exc:  # a task whose schedule no longer evaluates must not stall us
            log.error("scheduler.task_schedule_failed", task_id=task.id, error=str(exc))
            return FirePlan(run=[task.next_run_at], next_run_at=None)

    async def seconds_until_due(self) -> float:
        """How long to sleep before the earliest next_run_at comes within the lookahead (at
        most SCHEDULER_MAX_SLEEP)."""
        async with self.store.connect() as conn:
            return self._delay_until(await task_next_due_at(conn))

    def _delay_until(self, next_due: datetime | None) -> float:
        ceiling = self.settings.scheduler_max_sleep
        if next_due is None:
            return ceiling
        wake_at = next_due - self._lookahead
        return max(0.0, min(ceiling, (wake_at - self.clock.now()).total_seconds()))

    def _sleep_after(self, result: TickResult) -> float:
        """How long to sleep after a tick before the next one."""
        if self._full(result):
            return 0.0  # more may be waiting
        if result.next_due is not None and result.horizon and result.next_due <= result.horizon:
            # Due at our claim yet not claimed: another scheduler holds it. Its commit moves
            # next_run_at on; look again soon in case it crashed and rolled back instead.
            return min(HELD_ELSEWHERE_RETRY_SECONDS, self.settings.scheduler_max_sleep)
        return self._delay_until(result.next_due)

    async def run(self) -> None:
        """Tick while there is work; otherwise sleep until the next due time or a wake-up.

        On PostgreSQL the loop keeps its connections between ticks (no pool checkout and
        pre-ping per tick: fewer round trips between a due instant and its commit); after any
        error it drops them, pauses, and connects again.
        """
        while not self._stopping:
            try:
                async with self._loop_connections() as conns:
                    await self._loop(conns)
            except Exception as exc:  # the database may be briefly unreachable: keep going
                log.error("scheduler.tick_failed", error=str(exc))
                await self._sleep(STORE_RETRY_SECONDS)

    @contextlib.asynccontextmanager
    async def _loop_connections(self) -> AsyncIterator[list[AsyncConnection | None]]:
        if not self.store.is_postgres:  # SQLite: share the one pooled connection per tick
            yield [None]
            return
        async with contextlib.AsyncExitStack() as stack:
            connect = self.store.engine.connect
            yield [await stack.enter_async_context(connect()) for _ in range(BURST_LANES)]

    async def _loop(self, conns: list[AsyncConnection | None]) -> None:
        while not self._stopping:
            self.wakeup.clear()  # before the tick: a change made during it wakes the next one
            result = await self._tick_on(conns[0])
            if self._full(result) and len(conns) > 1:
                await self._drain_burst(conns)
                continue  # then a lone tick, whose probe sees none of our batches in flight
            delay = self._sleep_after(result)
            if delay > 0:
                await self._sleep(delay)

    async def _drain_burst(self, conns: list[AsyncConnection | None]) -> None:
        """While batches come back full, tick on every connection at once: SKIP LOCKED gives
        each its own tasks, and one plans in Python while another's statements run."""
        while not self._stopping:
            async with asyncio.TaskGroup() as group:
                ticks = [group.create_task(self._tick_on(conn)) for conn in conns]
            if not any(self._full(tick.result()) for tick in ticks):
                return

    async def _tick_on(self, conn: AsyncConnection | None) -> TickResult:
        if conn is None:
            return await self.tick()
        async with conn.begin():
            result = await self._tick_in(conn)
        return self._after_commit(result)

    def _full(self, result: TickResult) -> bool:
        return result.tasks >= self.settings.scheduler_batch_size

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), timeout=seconds)
