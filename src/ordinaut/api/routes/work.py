"""Routes: the occurrence ledger (`due_work`) and the processes working it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from ordinaut.api import app as application  # module: app.py imports this one
from ordinaut.api.auth import require
from ordinaut.api.schemas import MAX_OFFSET, WorkerOut, WorkOut, WorkPage, problems
from ordinaut.core.models import Agent
from ordinaut.core.states import WorkState
from ordinaut.services import runs

router = APIRouter(tags=["runs"], responses=problems(401, 403, 404, 422))

Reader = Annotated[Agent, Depends(require("runs:read"))]


@router.get("/work", response_model=WorkPage, summary="Occurrences, newest first")
async def list_work(
    request: Request,
    agent: Reader,
    task_id: UUID | None = None,
    state: WorkState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> WorkPage:
    """Every occurrence of your tasks with its state and the reason for it (run_now, missed,
    task canceled...): what ran, what will run, and what was skipped and why.
    """
    found, total = await runs.list_work(
        application.context_of(request),
        agent,
        task_id=str(task_id) if task_id else None,
        state=state.value if state else None,
        limit=limit,
        offset=offset,
    )
    return WorkPage.of(found, total, limit, offset)


@router.get("/work/{work_id}", response_model=WorkOut, summary="One occurrence")
async def get_work(request: Request, agent: Reader, work_id: UUID) -> WorkOut:
    work = await runs.get_work(application.context_of(request), agent, str(work_id))
    return WorkOut.model_validate(work)


@router.get("/workers", response_model=list[WorkerOut], summary="Worker and scheduler processes")
async def list_workers(request: Request, agent: Reader) -> list[WorkerOut]:
    """Registered processes with their last heartbeat and counters (needs runs:read or admin)."""
    found = await runs.list_workers(application.context_of(request))
    return [WorkerOut.model_validate(w) for w in found]
