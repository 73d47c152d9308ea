"""Routes: tasks (create, list, read, change, delete), their actions and their schedule."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status

from ordinaut.api import app as application  # module: app.py imports this one
from ordinaut.api.auth import require
from ordinaut.api.schemas import (
    MAX_OFFSET,
    ActionOut,
    PreviewOut,
    SnoozeIn,
    TaskOut,
    TaskPage,
    problems,
)
from ordinaut.core.models import Agent
from ordinaut.core.states import ScheduleKind, TaskStatus
from ordinaut.services import tasks
from ordinaut.services.context import ServiceContext
from ordinaut.services.schedules import preview_task
from ordinaut.services.task_inputs import TaskDraft, TaskPatch

router = APIRouter(tags=["tasks"], responses=problems(401, 403, 422))

Reader = Annotated[Agent, Depends(require("tasks:read"))]
Writer = Annotated[Agent, Depends(require("tasks:write"))]
TaskId = Annotated[UUID, Path(description="the task's id")]
MISSING = problems(404)
CONFLICT = problems(404, 409)


def _ctx(request: Request) -> ServiceContext:
    return application.context_of(request)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


@router.post(
    "/tasks",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskOut,
    summary="Create a task",
    responses={200: {"model": TaskOut, "description": "the task this dedupe_key already made"}},
)
async def create_task(
    request: Request, response: Response, agent: Writer, draft: TaskDraft
) -> TaskOut:
    """Validate every field (schedule, time zone, pipeline, tools) and save the task.

    With a `dedupe_key` this agent already used (inside its window), nothing is created and
    the existing task comes back with 200.
    """
    task, created = await tasks.create_task(_ctx(request), agent, draft, _request_id(request))
    if not created:
        response.status_code = status.HTTP_200_OK
    return TaskOut.model_validate(task)


@router.get("/tasks", response_model=TaskPage, summary="List tasks, newest first")
async def list_tasks(
    request: Request,
    agent: Reader,
    status: TaskStatus | None = None,
    schedule_kind: ScheduleKind | None = None,
    created_by: Annotated[UUID | None, Query(description="admin: another agent's")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TaskPage:
    """Your tasks (every agent's for admin), filtered by status, kind and creator."""
    found, total = await tasks.list_tasks(
        _ctx(request),
        agent,
        status=status.value if status else None,
        schedule_kind=schedule_kind.value if schedule_kind else None,
        created_by=str(created_by) if created_by else None,
        limit=limit,
        offset=offset,
    )
    return TaskPage.of(found, total, limit, offset)


@router.get("/tasks/{task_id}", response_model=TaskOut, summary="Read a task", responses=MISSING)
async def get_task(request: Request, agent: Reader, task_id: TaskId) -> TaskOut:
    return TaskOut.model_validate(await tasks.get_task(_ctx(request), agent, str(task_id)))


@router.put("/tasks/{task_id}", response_model=TaskOut, summary="Change a task", responses=CONFLICT)
async def update_task(
    request: Request, agent: Writer, task_id: TaskId, patch: TaskPatch
) -> TaskOut:
    """Partial update: only the fields sent change. A schedule change (kind, expression, time
    zone or DST policy) restarts the series from now and recomputes `next_run_at` at once.
    """
    ctx = _ctx(request)
    task = await tasks.update_task(ctx, agent, str(task_id), patch, _request_id(request))
    return TaskOut.model_validate(task)


@router.delete(
    "/tasks/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a task",
    responses=MISSING,
)
async def delete_task(request: Request, agent: Writer, task_id: TaskId) -> Response:
    """Delete the task with its occurrences and runs (cancel keeps them as a record)."""
    await tasks.delete_task(_ctx(request), agent, str(task_id), _request_id(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/tasks/{task_id}/snooze",
    response_model=ActionOut,
    summary="Delay pending occurrences",
    responses=CONFLICT,
)
async def snooze(
    request: Request, agent: Writer, task_id: TaskId, body: Annotated[SnoozeIn, Body()]
) -> ActionOut:
    """Move the task's pending occurrences later by `delay_seconds`; with none pending, the
    next occurrence is queued late instead.
    """
    result = await tasks.snooze(
        _ctx(request),
        agent,
        str(task_id),
        body.delay_seconds,
        body.reason,
        _request_id(request),
    )
    return ActionOut.model_validate(result)


def _action_route(action: tasks.TaskAction) -> None:
    async def act(request: Request, agent: Writer, task_id: TaskId) -> ActionOut:
        result = await action.run(_ctx(request), agent, str(task_id), _request_id(request))
        return ActionOut.model_validate(result)

    router.add_api_route(
        f"/tasks/{{task_id}}/{action.name}",
        act,
        methods=["POST"],
        name=action.name,
        response_model=ActionOut,
        summary=action.summary,
        description=action.description,
        responses=CONFLICT if action.may_conflict else MISSING,
    )


for _action in tasks.ACTIONS:
    _action_route(_action)


@router.get(
    "/tasks/{task_id}/schedule",
    response_model=PreviewOut,
    summary="A task's next occurrences",
    responses=MISSING,
)
async def schedule(
    request: Request,
    agent: Reader,
    task_id: TaskId,
    count: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> PreviewOut:
    """The next `count` occurrences from now; empty for event tasks and finished ones."""
    ctx = _ctx(request)
    task = await tasks.get_task(ctx, agent, str(task_id))
    return PreviewOut.model_validate({"occurrences": preview_task(task, ctx.clock.now(), count)})
