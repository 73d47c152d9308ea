"""What agents may read of the worker's results: runs, their stats, the occurrence ledger.

An agent sees only the runs and occurrences of its own tasks; another agent's are reported as
not found, exactly like an id that does not exist. `admin` sees everything.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.errors import NotFound
from ordinaut.core.models import Agent, DueWork
from ordinaut.services.context import ServiceContext
from ordinaut.services.tasks import visible
from ordinaut.store import occurrences, tasks
from ordinaut.store.runs import Run, RunStats, task_run_get, task_run_latest, task_run_list
from ordinaut.store.runs import task_run_stats as task_run_stats_query
from ordinaut.store.workers import WorkerInfo, worker_list


def _owner_filter(agent: Agent) -> str | None:
    return None if agent.is_admin else agent.id


async def _check_task(conn: AsyncConnection, agent: Agent, task_id: str) -> None:
    visible(agent, await tasks.task_get(conn, task_id), task_id)


async def list_runs(
    ctx: ServiceContext,
    agent: Agent,
    *,
    task_id: str | None = None,
    success: bool | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Run], int]:
    """Runs newest first (by start) and how many match; a task filter must name a visible task."""
    async with ctx.store.connect() as conn:
        if task_id is not None:
            await _check_task(conn, agent, task_id)
        return await task_run_list(
            conn,
            task_id=task_id,
            created_by=_owner_filter(agent),
            success=success,
            start_time=start_time,
            end_time=end_time,
            limit=limit,
            offset=offset,
        )


async def get_run(ctx: ServiceContext, agent: Agent, run_id: str) -> Run:
    async with ctx.store.connect() as conn:
        run = await task_run_get(conn, run_id)
        owner = await tasks.task_get(conn, run.task_id) if run else None
    if run is None or owner is None or not (agent.is_admin or owner.created_by == agent.id):
        raise NotFound(f"run {run_id} not found")
    return run


async def latest_run(ctx: ServiceContext, agent: Agent, task_id: str) -> Run | None:
    """The task's most recently started run; None when it has not run yet."""
    async with ctx.store.connect() as conn:
        await _check_task(conn, agent, task_id)
        return await task_run_latest(conn, task_id)


async def task_run_stats(
    ctx: ServiceContext, agent: Agent, task_id: str, days: int
) -> tuple[RunStats, datetime]:
    """Stats of one task's runs started in the last `days` days, and when that window began."""
    since = ctx.clock.now() - timedelta(days=days)
    async with ctx.store.connect() as conn:
        await _check_task(conn, agent, task_id)
        return await task_run_stats_query(conn, since=since, task_id=task_id), since


async def run_summary(ctx: ServiceContext, agent: Agent, days: int) -> tuple[RunStats, datetime]:
    """Stats of every run the agent may see (all, for admin) of the last `days` days."""
    since = ctx.clock.now() - timedelta(days=days)
    async with ctx.store.connect() as conn:
        stats = await task_run_stats_query(conn, since=since, created_by=_owner_filter(agent))
    return stats, since


async def list_work(
    ctx: ServiceContext,
    agent: Agent,
    *,
    task_id: str | None = None,
    state: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DueWork], int]:
    """The occurrence ledger, newest first; a task filter must name a visible task."""
    async with ctx.store.connect() as conn:
        if task_id is not None:
            await _check_task(conn, agent, task_id)
        return await occurrences.due_work_list(
            conn,
            task_ids=[task_id] if task_id is not None else None,
            created_by=_owner_filter(agent),
            state=state,
            limit=limit,
            offset=offset,
        )


async def get_work(ctx: ServiceContext, agent: Agent, work_id: str) -> DueWork:
    async with ctx.store.connect() as conn:
        work = await occurrences.due_work_get(conn, work_id)
        owner = await tasks.task_get(conn, work.task_id) if work else None
    if work is None or owner is None or not (agent.is_admin or owner.created_by == agent.id):
        raise NotFound(f"occurrence {work_id} not found")
    return work


async def list_workers(ctx: ServiceContext) -> list[WorkerInfo]:
    """Registered worker and scheduler processes, oldest first."""
    async with ctx.store.connect() as conn:
        return await worker_list(conn)
