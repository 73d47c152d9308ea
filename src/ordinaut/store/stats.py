"""Counts for metrics: the state of the whole deployment, read at scrape time.

Every query is an index probe or a count over a partial index (active tasks by due time, the
claimable occurrences, unrelayed events), so a scrape stays cheap however long the history of
finished occurrences grows; only `task` is counted in full, grouped by status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.states import TaskStatus, WorkState
from ordinaut.store.schema import due_work, outbox, task

WAITING = (WorkState.SCHEDULED.value, WorkState.RETRYING.value)


@dataclass(frozen=True)
class DeploymentStats:
    tasks: dict[str, int]  # by status, every status present
    occurrences: dict[str, int]  # scheduled, retrying, running
    ready: int  # claimable now: waiting with run_at <= now
    oldest_ready_at: datetime | None
    earliest_due_task_at: datetime | None  # min next_run_at of active tasks
    outbox_pending: int


async def deployment_stats(conn: AsyncConnection, now: datetime) -> DeploymentStats:
    """What the queue, the scheduler and the outbox hold at `now`."""
    by_status = sa.select(task.c.status, sa.func.count()).group_by(task.c.status)
    tasks = {s.value: 0 for s in TaskStatus} | {
        s: n for s, n in (await conn.execute(by_status)).all()
    }
    live = (*WAITING, WorkState.RUNNING.value)
    by_state = (
        sa.select(due_work.c.state, sa.func.count())
        .where(due_work.c.state.in_(live))
        .group_by(due_work.c.state)
    )
    occurrences = dict.fromkeys(live, 0) | {s: n for s, n in (await conn.execute(by_state)).all()}
    ready_query = sa.select(sa.func.count(), sa.func.min(due_work.c.run_at)).where(
        due_work.c.state.in_(WAITING), due_work.c.run_at <= now
    )
    ready, oldest = (await conn.execute(ready_query)).one()
    due_query = sa.select(sa.func.min(task.c.next_run_at)).where(
        task.c.status == TaskStatus.ACTIVE.value
    )
    pending_query = sa.select(sa.func.count()).where(outbox.c.relayed_at.is_(None))
    return DeploymentStats(
        tasks=tasks,
        occurrences=occurrences,
        ready=int(ready),
        oldest_ready_at=oldest,
        earliest_due_task_at=(await conn.execute(due_query)).scalar_one(),
        outbox_pending=int((await conn.execute(pending_query)).scalar_one()),
    )
