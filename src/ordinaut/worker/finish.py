"""Ending attempts: what each finished or lost attempt becomes, written by `run_finish_many`.

An occurrence's new state, its `task_run` row and its outbox events are committed together or
not at all (on PostgreSQL they are one statement).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.ids import new_id
from ordinaut.core.models import DueWork, Task
from ordinaut.core.states import WorkState
from ordinaut.store.bulk import task_get_many
from ordinaut.store.queue import WORKER_LOST, Attempt, due_work_expired
from ordinaut.store.runs import Run, RunEnd, run_finish_many
from ordinaut.worker.backoff import Random, retry_delay
from ordinaut.worker.runner import RunOutcome

logger = logging.getLogger(__name__)


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


async def finish_attempts(
    conn: AsyncConnection,
    *,
    worker_id: str,
    batch: Sequence[Finished],
    policy: RetryPolicy,
    now: datetime,
) -> list[Finished]:
    """Write a batch of finished attempts; returns those dropped because the lease was lost.

    On PostgreSQL one statement, so `conn` may be in autocommit."""
    ends = [_end(f, worker_id, policy, now) for f in batch]
    applied = await run_finish_many(conn, ends, now=now)
    dropped = [f for f in batch if f.claimed.key not in applied]
    for f in dropped:
        logger.warning("lease lost on %s attempt %d; dropping its late result", *f.claimed.key)
    return dropped


def _end(f: Finished, worker_id: str, policy: RetryPolicy, now: datetime) -> RunEnd:
    """succeeded; retrying (retryable, attempts left) after the task's backoff; or failed."""
    run, work = _run_row(f, worker_id), f.claimed.work
    if f.outcome.success:
        return RunEnd(run, WorkState.SUCCEEDED)
    reason = f.outcome.error or "failed"
    if f.outcome.retryable and work.attempt < work.max_attempts:
        retry_at = policy.next_run_at(f.claimed.task, work.attempt, now)
        return RunEnd(run, WorkState.RETRYING, retry_at, reason)
    return RunEnd(run, WorkState.FAILED, None, reason)


async def recover_expired(
    conn: AsyncConnection, *, policy: RetryPolicy, now: datetime, limit: int = 100
) -> int:
    """Occurrences whose worker vanished: record the lost attempt, then retry or fail them
    (written as their old owner, whose lease the rows still name)."""
    expired = await due_work_expired(conn, now=now, limit=limit)
    if not expired:
        return 0
    tasks = await task_get_many(conn, [w.task_id for w in expired])
    ends = []
    for work in expired:
        run = _lost_run(work, now)
        if work.attempt < work.max_attempts:
            retry_at = policy.next_run_at(tasks.get(work.task_id), work.attempt, now)
            ends.append(RunEnd(run, WorkState.RETRYING, retry_at, WORKER_LOST))
        else:
            ends.append(RunEnd(run, WorkState.FAILED, None, WORKER_LOST))
        logger.warning(
            "lease of %s attempt %d expired (worker %s lost)", work.id, work.attempt, run.worker_id
        )
    await run_finish_many(conn, ends, now=now)
    return len(expired)


def _lost_run(work: DueWork, now: datetime) -> Run:
    """The attempt a vanished worker never finished; it started when it was claimed."""
    return Run(
        id=new_id(),
        task_id=work.task_id,
        due_work_id=work.id,
        attempt=work.attempt,
        worker_id=work.locked_by or "",
        started_at=work.updated_at,
        finished_at=now,
        duration_ms=round((now - work.updated_at).total_seconds() * 1000, 3),
        success=False,
        error=WORKER_LOST,
        output=None,
    )
