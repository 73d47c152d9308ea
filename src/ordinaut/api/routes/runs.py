"""Routes: runs (one per attempt), per-task stats and the summary."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from ordinaut.api import app as application  # module: app.py imports this one
from ordinaut.api.auth import require
from ordinaut.api.schemas import MAX_OFFSET, Instant, RunOut, RunPage, RunStatsOut, problems
from ordinaut.core.models import Agent
from ordinaut.services import runs
from ordinaut.services.context import ServiceContext
from ordinaut.store.runs import Run, RunStats

router = APIRouter(tags=["runs"], responses=problems(401, 403, 404, 422))

Reader = Annotated[Agent, Depends(require("runs:read"))]
IncludeErrors = Annotated[bool, Query(description="show each run's error text (hidden by default)")]
MAX_DAYS = 3650


def _ctx(request: Request) -> ServiceContext:
    return application.context_of(request)


def _shown(run: Run, include_errors: bool) -> RunOut:
    return RunOut.model_validate(run if include_errors else replace(run, error=None))


def _stats(window: tuple[RunStats, datetime], days: int, task_id: str | None) -> RunStatsOut:
    stats, since = window
    return RunStatsOut.model_validate(
        asdict(stats) | {"task_id": task_id, "days": days, "since": since}
    )


@router.get("/runs", response_model=RunPage, summary="List runs, newest first")
async def list_runs(
    request: Request,
    agent: Reader,
    task_id: UUID | None = None,
    success: bool | None = None,
    include_errors: IncludeErrors = False,
    start_time: Annotated[Instant | None, Query(description="runs started at or after")] = None,
    end_time: Annotated[Instant | None, Query(description="runs started before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> RunPage:
    """Runs of your tasks (all, for admin). `start_time`/`end_time` filter on when a run
    started; write instants with `Z` or a URL-encoded `+` (`%2B02:00`).
    """
    found, total = await runs.list_runs(
        _ctx(request),
        agent,
        task_id=str(task_id) if task_id else None,
        success=success,
        start_time=start_time,
        end_time=end_time,
        limit=limit,
        offset=offset,
    )
    return RunPage.of([_shown(r, include_errors) for r in found], total, limit, offset)


@router.get("/runs/stats/summary", response_model=RunStatsOut, summary="Stats of all your runs")
async def summary(
    request: Request,
    agent: Reader,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 7,
) -> RunStatsOut:
    stats = await runs.run_summary(_ctx(request), agent, days)
    return _stats(stats, days, None)


@router.get(
    "/runs/task/{task_id}/latest",
    response_model=RunOut | None,
    summary="A task's latest run (null when none)",
)
async def latest(
    request: Request, agent: Reader, task_id: UUID, include_errors: IncludeErrors = False
) -> RunOut | None:
    run = await runs.latest_run(_ctx(request), agent, str(task_id))
    return _shown(run, include_errors) if run else None


@router.get("/runs/task/{task_id}/stats", response_model=RunStatsOut, summary="A task's stats")
async def task_stats(
    request: Request,
    agent: Reader,
    task_id: UUID,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
) -> RunStatsOut:
    stats = await runs.task_run_stats(_ctx(request), agent, str(task_id), days)
    return _stats(stats, days, str(task_id))


@router.get("/runs/{run_id}", response_model=RunOut, summary="One run")
async def get_run(
    request: Request, agent: Reader, run_id: UUID, include_errors: IncludeErrors = False
) -> RunOut:
    """One attempt with its step outputs; 404 for another agent's run."""
    return _shown(await runs.get_run(_ctx(request), agent, str(run_id)), include_errors)
