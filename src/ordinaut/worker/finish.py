"""Ending attempts: the guarded state change, its run row, events and task bookkeeping.

Each function runs inside the caller's transaction, so an occurrence's new state, its
`task_run` row and its outbox events are committed together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.ids import new_id
from ordinaut.core.models import DueWork, Task
from ordinaut.core.states import ScheduleKind, WorkState
from ordinaut.store.bulk import task_get_many
from ordinaut.store.outbox import outbox_insert_many
from ordinaut.store.queue import (
    WORKER_LOST,
    Attempt,
    due_work_expired,
    due_work_fail,
    due_work_finish_success,
    due_work_retry,
)
from ordinaut.store.runs import Run, task_complete_once, task_run_insert_many, task_set_last_run_at
from ordinaut.worker.backoff import Random, retry_delay
from ordinaut.worker.runner import RunOutcome

logger = logging.getLogger(__name__)

OutboxEvent = tuple[str, str | None, dict[str, Any]]


@dataclass(frozen=True)
class Claimed:
    """A running attempt this worker holds, with what its pipeline needs."""

    work: DueWork
    task: Task
    event: dict[str, Any] | None
    run_id: str

    @property
    def key(self) -> Attempt:
        return (self.work.id, self.work.attempt)


@dataclass(frozen=True)
class Finished:
    """An attempt whose pipeline returned, waiting to be written."""

    claimed: Claimed
    outcome: RunOutcome
    started_at: datetime
    finished_at: datetime
    duration_ms: float


@dataclass(frozen=True)
class RetryPolicy:
    max_delay: float
    random: Random

    def next_run_at(self, task: Task | None, attempt: int, now: datetime) -> datetime:
        strategy = task.backoff_strategy if task is not None else "exponential_jitter"
        delay = retry_delay(strategy, attempt, max_delay=self.max_delay, random=self.random)
        return now + timedelta(seconds=delay)


def _run_row(f: Finished, worker_id: str) -> Run:
    return Run(
        id=f.claimed.run_id,
        task_id=f.claimed.task.id,
        due_work_id=f.claimed.work.id,
        attempt=f.claimed.work.attempt,
        worker_id=worker_id,
        started_at=f.started_at,
        finished_at=f.finished_at,
        duration_ms=round(f.duration_ms, 3),
        success=f.outcome.success,
        error=f.outcome.error,
        output=f.outcome.output,
    )


def _run_event(run: Run) -> OutboxEvent:
    kind = "run.succeeded" if run.success else "run.failed"
    payload = {
        "run_id": run.id,
        "task_id": run.task_id,
        "due_work_id": run.due_work_id,
        "attempt": run.attempt,
        "worker_id": run.worker_id,
        "duration_ms": run.duration_ms,
        "error": run.error,
    }
    return (kind, run.task_id, payload)


def _failed_event(work: DueWork, error: str | None) -> OutboxEvent:
    payload = {"task_id": work.task_id, "due_work_id": work.id, "attempts": work.attempt}
    return ("occurrence.failed", work.task_id, {**payload, "error": error})


async def _record(
    conn: AsyncConnection,
    runs: Sequence[Run],
    events: Sequence[OutboxEvent],
    final_once: Iterable[str],
    now: datetime,
) -> None:
    """The writes every finished attempt shares: run rows, events, the task's bookkeeping."""
    await task_run_insert_many(conn, runs)
    await outbox_insert_many(conn, events, now)
    latest: dict[str, datetime] = {}
    for run in runs:
        if run.task_id not in latest or latest[run.task_id] < run.started_at:
            latest[run.task_id] = run.started_at
    await task_set_last_run_at(conn, latest)
    await task_complete_once(conn, sorted(set(final_once)), now=now)


async def finish_attempts(
    conn: AsyncConnection,
    *,
    worker_id: str,
    batch: Sequence[Finished],
    policy: RetryPolicy,
    now: datetime,
) -> list[Finished]:
    """Write a batch of finished attempts; returns those dropped because the lease was lost."""
    ok = [f for f in batch if f.outcome.success]
    applied = await due_work_finish_success(
        conn, worker_id=worker_id, attempts=[f.claimed.key for f in ok], now=now
    )
    kept = [f for f in ok if f.claimed.key in applied]
    events: list[OutboxEvent] = []
    final_once = [
        f.claimed.task.id for f in kept if f.claimed.task.schedule_kind == ScheduleKind.ONCE
    ]
    for f in batch:
        if f.outcome.success:
            continue
        state = await _end_failed(conn, worker_id, f, policy, now)
        if state is None:
            continue
        kept.append(f)
        if state == WorkState.FAILED:
            events.append(_failed_event(f.claimed.work, f.outcome.error))
            if f.claimed.task.schedule_kind == ScheduleKind.ONCE:
                final_once.append(f.claimed.task.id)
    runs = [_run_row(f, worker_id) for f in kept]
    events[:0] = [_run_event(run) for run in runs]
    await _record(conn, runs, events, final_once, now)
    kept_keys = {f.claimed.key for f in kept}
    dropped = [f for f in batch if f.claimed.key not in kept_keys]
    for f in dropped:
        logger.warning("lease lost on %s attempt %d; dropping its late result", *f.claimed.key)
    return dropped


async def _end_failed(
    conn: AsyncConnection, worker_id: str, f: Finished, policy: RetryPolicy, now: datetime
) -> WorkState | None:
    """-> retrying (retryable, attempts left) or failed; None when the lease was lost."""
    work, error = f.claimed.work, f.outcome.error or "failed"
    if f.outcome.retryable and work.attempt < work.max_attempts:
        run_at = policy.next_run_at(f.claimed.task, work.attempt, now)
        applied = await due_work_retry(
            conn, worker_id=worker_id, attempt=f.claimed.key, run_at=run_at, reason=error, now=now
        )
        return WorkState.RETRYING if applied else None
    applied = await due_work_fail(
        conn, worker_id=worker_id, attempt=f.claimed.key, reason=error, now=now
    )
    return WorkState.FAILED if applied else None


async def recover_expired(
    conn: AsyncConnection, *, policy: RetryPolicy, now: datetime, limit: int = 100
) -> int:
    """Occurrences whose worker vanished: record the lost attempt, then retry or fail them."""
    expired = await due_work_expired(conn, now=now, limit=limit)
    if not expired:
        return 0
    tasks = await task_get_many(conn, [w.task_id for w in expired])
    runs: list[Run] = []
    events: list[OutboxEvent] = []
    final_once: list[str] = []
    for work in expired:
        owner, task = work.locked_by or "", tasks.get(work.task_id)
        if work.attempt < work.max_attempts:
            run_at = policy.next_run_at(task, work.attempt, now)
            await due_work_retry(
                conn,
                worker_id=owner,
                attempt=(work.id, work.attempt),
                run_at=run_at,
                reason=WORKER_LOST,
                now=now,
            )
        else:
            await due_work_fail(
                conn, worker_id=owner, attempt=(work.id, work.attempt), reason=WORKER_LOST, now=now
            )
            events.append(_failed_event(work, WORKER_LOST))
            if task is not None and task.schedule_kind == ScheduleKind.ONCE:
                final_once.append(task.id)
        runs.append(_lost_run(work, owner, now))
        logger.warning(
            "lease of %s attempt %d expired (worker %s lost)", work.id, work.attempt, owner
        )
    events[:0] = [_run_event(run) for run in runs]
    await _record(conn, runs, events, final_once, now)
    return len(expired)


def _lost_run(work: DueWork, owner: str, now: datetime) -> Run:
    """The attempt a vanished worker never finished; it started when it was claimed."""
    return Run(
        id=new_id(),
        task_id=work.task_id,
        due_work_id=work.id,
        attempt=work.attempt,
        worker_id=owner,
        started_at=work.updated_at,
        finished_at=now,
        duration_ms=round((now - work.updated_at).total_seconds() * 1000, 3),
        success=False,
        error=WORKER_LOST,
        output=None,
    )
