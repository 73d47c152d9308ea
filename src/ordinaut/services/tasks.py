"""Task operations: one implementation behind the REST API, the MCP server and the CLI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ordinaut.core.errors import Conflict, NotFound
from ordinaut.core.ids import new_id
from ordinaut.core.models import Agent, Task
from ordinaut.core.states import ScheduleKind, TaskStatus, WorkState
from ordinaut.scheduling import ScheduleSpec, anchor_dtstart, next_occurrence
from ordinaut.scheduling.task_spec import spec_of
from ordinaut.services.context import Actor, ServiceContext, UnitOfWork
from ordinaut.services.schedules import first_run_at
from ordinaut.services.task_checks import check_storable, check_task_fields
from ordinaut.services.task_inputs import TaskDraft, TaskPatch
from ordinaut.store import occurrences, tasks
from ordinaut.store.channels import TASKS_CHANGED, WORK_AVAILABLE
from ordinaut.store.rows import to_value

RUN_NOW = "run_now"


@dataclass(frozen=True)
class ActionResult:
    success: bool
    message: str
    details: dict[str, Any]


def visible(agent: Agent, task: Task | None, task_id: str) -> Task:
    """The task if this agent may see it; another agent's task is indistinguishable from none."""
    if task is None or not (agent.is_admin or task.created_by == agent.id):
        raise NotFound(f"task {task_id} not found")
    return task


async def create_task(
    ctx: ServiceContext, agent: Agent, draft: TaskDraft, request_id: str | None = None
) -> tuple[Task, bool]:
    """Create a task; returns (task, created). A repeated `dedupe_key` returns the original."""
    timezone = draft.timezone or ctx.settings.default_timezone
    check_task_fields(
        ctx.registry,
        agent.scopes,
        draft.model_dump(exclude_none=True),  # a None in a draft means the default
        (draft.schedule_kind, draft.schedule_expr, timezone),
        draft.payload,
    )
    # without a dedupe key there is nothing to read first: one statement, no transaction
    dedupe = draft.dedupe_key is not None
    unit = ctx.unit_of_work if dedupe else ctx.single_write
    async with unit(Actor(agent.id, request_id)) as uow:
        if draft.dedupe_key is not None:
            existing = await tasks.task_find_duplicate(
                uow.conn, created_by=agent.id, dedupe_key=draft.dedupe_key, now=uow.now
            )
            if existing is not None:
                return existing, False
        values = _new_task_values(ctx, agent, draft, timezone, uow.now)
        task = to_value(Task, values)
        await uow.audit(
            "task.create",
            "task",
            task.id,
            {"title": task.title, "schedule_kind": task.schedule_kind},
        )
        await uow.emit("task.created", task_event(task), task.id)
        uow.wake(TASKS_CHANGED)
        await tasks.task_insert(uow.conn, values, uow.carry())
    return task, True


def _new_task_values(
    ctx: ServiceContext, agent: Agent, draft: TaskDraft, timezone: str, now: datetime
) -> dict[str, Any]:
    dtstart = anchor_dtstart(now)
    spec = ScheduleSpec(
        draft.schedule_kind,
        draft.schedule_expr,
        timezone,
        dtstart,
        draft.dst_gap,
        draft.dst_overlap,
    )
    next_run_at = first_run_at(spec, now)
    settings = ctx.settings
    fields = draft.model_dump(mode="json")
    return fields | {
        "id": new_id(),
        "created_by": agent.id,
        "timezone": timezone,
        "dtstart": dtstart,
        "status": TaskStatus.ACTIVE.value,
        "max_retries": settings.worker_max_retries
        if draft.max_retries is None
        else draft.max_retries,
        "misfire_grace_seconds": settings.scheduler_misfire_grace_time
        if draft.misfire_grace_seconds is None
        else draft.misfire_grace_seconds,
        "next_run_at": next_run_at,
        "last_run_at": None,
        "created_at": now,
        "updated_at": now,
    }


def task_event(task: Task) -> dict[str, Any]:
    """The JSON body of task.* events."""
    return {
        "task_id": task.id,
        "title": task.title,
        "status": task.status,
        "created_by": task.created_by,
        "schedule_kind": task.schedule_kind,
        "next_run_at": task.next_run_at.isoformat() if task.next_run_at else None,
    }


async def get_task(ctx: ServiceContext, agent: Agent, task_id: str) -> Task:
    async with ctx.store.read() as conn:
        return visible(agent, await tasks.task_get(conn, task_id), task_id)


async def list_tasks(
    ctx: ServiceContext,
    agent: Agent,
    *,
    status: str | None,
    schedule_kind: str | None,
    created_by: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Task], int]:
    owner = created_by if agent.is_admin else agent.id
    if not agent.is_admin and created_by not in (None, agent.id):
        return [], 0
    async with ctx.store.read() as conn:
        return await tasks.task_list(
            conn,
            created_by=owner,
            status=status,
            schedule_kind=schedule_kind,
            limit=limit,
            offset=offset,
        )


async def _load_for_change(uow: UnitOfWork, agent: Agent, task_id: str) -> Task:
    return visible(agent, await tasks.task_get(uow.conn, task_id, for_update=True), task_id)


async def update_task(
    ctx: ServiceContext, agent: Agent, task_id: str, patch: TaskPatch, request_id: str | None = None
) -> Task:
    changes = patch.model_dump(mode="json", exclude_unset=True)
    async with ctx.unit_of_work(Actor(agent.id, request_id)) as uow:
        task = await _load_for_change(uow, agent, task_id)
        if task.status == TaskStatus.CANCELED:
            raise Conflict(f"task {task_id} is canceled; create a new task instead")
        if not changes:
            return task
        check_storable(changes)  # before the merge: a null schedule_kind cannot be merged
        merged = replace(task, **changes)
        check_task_fields(
            ctx.registry,
            agent.scopes,
            changes,
            (ScheduleKind(merged.schedule_kind), merged.schedule_expr, merged.timezone),
            changes.get("payload"),
        )
        if TaskPatch.SCHEDULE_FIELDS & changes.keys():
            await occurrences.due_work_cancel_ahead(
                uow.conn, task_id, reason="schedule changed", now=uow.now
            )
            changes |= _reschedule(merged, uow.now)
        updated = await tasks.task_update(uow.conn, task_id, changes | {"updated_at": uow.now})
        assert updated is not None  # locked above
        await uow.audit("task.update", "task", task_id, {"fields": sorted(changes)})
        await uow.emit("task.updated", task_event(updated), task_id)
        uow.wake(TASKS_CHANGED)
    return updated


def _reschedule(task: Task, now: datetime) -> dict[str, Any]:
    """A schedule change starts the series afresh from now: new anchor, new next run."""
    dtstart = anchor_dtstart(now)
    next_run_at = first_run_at(replace(spec_of(task), dtstart=dtstart), now)
    status = task.status
    if status == TaskStatus.COMPLETED and next_run_at is not None:
        status = TaskStatus.ACTIVE
    # a paused task keeps its next run, as pause does, so resume still finds a one-shot's time
    live = status in (TaskStatus.ACTIVE, TaskStatus.PAUSED)
    return {"dtstart": dtstart, "status": status, "next_run_at": next_run_at if live else None}


async def delete_task(
    ctx: ServiceContext, agent: Agent, task_id: str, request_id: str | None = None
) -> None:
    async with ctx.unit_of_work(Actor(agent.id, request_id)) as uow:
        task = await _load_for_change(uow, agent, task_id)
        await tasks.task_delete(uow.conn, task_id)
        await uow.audit("task.delete", "task", task_id, {"title": task.title})
        await uow.emit("task.deleted", task_event(task), task_id)


async def run_now(
    ctx: ServiceContext, agent: Agent, task_id: str, request_id: str | None = None
) -> ActionResult:
    async with ctx.unit_of_work(Actor(agent.id, request_id)) as uow:
        task = await _load_for_change(uow, agent, task_id)
        if task.status not in (TaskStatus.ACTIVE, TaskStatus.PAUSED):
            raise Conflict(f"task {task_id} is {task.status}; only active or paused tasks run")
        row = await _enqueue_run_now(uow, task)
        await uow.audit("task.run_now", "task", task_id, {"due_work_id": row["id"]})
        await uow.emit(
            "occurrence.enqueued",
            {"task_id": task_id, "due_work_id": row["id"], "scheduled_for": uow.now.isoformat()},
            task_id,
        )
        uow.wake(WORK_AVAILABLE)
    return ActionResult(True, "task queued to run now", {"due_work_id": row["id"]})


async def _enqueue_run_now(uow: UnitOfWork, task: Task) -> dict[str, Any]:
    """Queue one occurrence now. Two run-nows at the same instant (a frozen clock, a coarse
    one) must both run, so a clash on (task, scheduled_for) moves the later one by 1 µs.
    """
    for nudge in range(100):
        scheduled_for = uow.now + timedelta(microseconds=nudge)
        row = occurrence_row(task, scheduled_for, uow.now, reason=RUN_NOW)
        if await occurrences.due_work_enqueue(uow.conn, [row]):
            return row
    raise Conflict(f"task {task.id} already has too many run-now requests at this instant")


def occurrence_row(
    task: Task,
    scheduled_for: datetime,
    run_at: datetime,
    *,
    reason: str | None = None,
    event_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new `due_work` row for one occurrence of `task`, written at `now` (default: `run_at`)."""
    return {
        "id": new_id(),
        "task_id": task.id,
        "scheduled_for": scheduled_for,
        "run_at": run_at,
        "state": WorkState.SCHEDULED.value,
        "attempt": 0,
        "max_attempts": task.max_retries + 1,
        "priority": task.priority,
        "concurrency_key": task.concurrency_key,
        "reason": reason,
        "event_id": event_id,
        "created_at": now or run_at,
        "updated_at": now or run_at,
    }


async def snooze(
    ctx: ServiceContext,
    agent: Agent,
    task_id: str,
    delay_seconds: int,
    reason: str | None = None,
    request_id: str | None = None,
) -> ActionResult:
    """Delay what is pending; with nothing pending, the next occurrence is queued late instead."""
    delay = timedelta(seconds=delay_seconds)
    async with ctx.unit_of_work(Actor(agent.id, request_id)) as uow:
        task = await _load_for_change(uow, agent, task_id)
        if task.status not in (TaskStatus.ACTIVE, TaskStatus.PAUSED):
            raise Conflict(f"task {task_id} is {task.status}; nothing to snooze")
        moved = await occurrences.due_work_shift_pending(uow.conn, task_id, delay, uow.now)
        if not moved and task.status == TaskStatus.ACTIVE and task.next_run_at is not None:
            moved = [await _enqueue_next_late(uow, task, delay)]
        details = {
            "moved": len(moved),
            "run_at": [m.isoformat() for m in moved],
            "delay_seconds": delay_seconds,
            "reason": reason,
        }
        await uow.audit("task.snooze", "task", task_id, details)
        uow.wake(TASKS_CHANGED)
    return ActionResult(True, f"moved {len(moved)} occurrence(s) by {delay_seconds}s", details)


async def _enqueue_next_late(uow: UnitOfWork, task: Task, delay: timedelta) -> datetime:
    assert task.next_run_at is not None
    run_at = task.next_run_at + delay
    await occurrences.due_work_enqueue(
        uow.conn, [occurrence_row(task, task.next_run_at, run_at, reason="snoozed", now=uow.now)]
    )
    following = next_occurrence(spec_of(task), task.next_run_at)
    await tasks.task_update(
        uow.conn,
        task.id,
        {"next_run_at": following.instant if following else None, "updated_at": uow.now},
    )
    return run_at


_EVENT_OF_ACTION = {"pause": "task.paused", "resume": "task.resumed", "cancel": "task.canceled"}


async def _transition(
    uow: UnitOfWork,
    task_id: str,
    changes: dict[str, Any],
    action: str,
    details: dict[str, Any],
) -> Task:
    """Apply a state change to a task locked by `_load_for_change`, with its audit row and
    its event, in the unit's transaction."""
    updated = await tasks.task_update(uow.conn, task_id, changes | {"updated_at": uow.now})
    assert updated is not None  # the row is locked, and the caller checked it exists
    await uow.audit(f"task.{action}", "task", task_id, details)
    await uow.emit(_EVENT_OF_ACTION[action], task_event(updated), task_id)
    return updated


async def pause(
    ctx: ServiceContext, agent: Agent, task_id: str, request_id: str | None = None
) -> ActionResult:
    async with ctx.unit_of_work(Actor(agent.id, request_id)) as uow:
        task = await _load_for_change(uow, agent, task_id)
        if task.status == TaskStatus.PAUSED:
            return ActionResult(True, "task was already paused", {"status": task.status})
        if task.status != TaskStatus.ACTIVE:
            raise Conflict(f"task {task_id} is {task.status}; only an active task can pause")
        await _transition(uow, task_id, {"status": TaskStatus.PAUSED.value}, "pause", {})
    return ActionResult(True, "task paused", {"status": TaskStatus.PAUSED.value})


async def resume(
    ctx: ServiceContext, agent: Agent, task_id: str, request_id: str | None = None
) -> ActionResult:
    """Resume from now: occurrences that fell due while paused are recorded missed, not run."""
    async with ctx.unit_of_work(Actor(agent.id, request_id)) as uow:
        task = await _load_for_change(uow, agent, task_id)
        if task.status == TaskStatus.ACTIVE:
            return ActionResult(True, "task was already active", {"status": task.status})
        if task.status != TaskStatus.PAUSED:
            raise Conflict(f"task {task_id} is {task.status}; only a paused task can resume")
        missed = await occurrences.due_work_close_pending(
            uow.conn,
            task_id,
            state=WorkState.MISSED,
            reason="task was paused",
            now=uow.now,
            scheduled_before=uow.now,
            keep_reason=RUN_NOW,
        )
        next_run_at = _next_after(task, uow.now)
        changes = {"status": TaskStatus.ACTIVE.value, "next_run_at": next_run_at}
        await _transition(uow, task_id, changes, "resume", {"missed": missed})
        uow.wake(TASKS_CHANGED)
        uow.wake(WORK_AVAILABLE)
    return ActionResult(
        True,
        "task resumed",
        {
            "status": TaskStatus.ACTIVE.value,
            "missed": missed,
            "next_run_at": next_run_at.isoformat() if next_run_at else None,
        },
    )


def _next_after(task: Task, now: datetime) -> datetime | None:
    if task.schedule_kind == ScheduleKind.ONCE:
        return task.next_run_at  # a paused one-shot that never ran still runs once
    occurrence = next_occurrence(spec_of(task), now)
    return occurrence.instant if occurrence else None


async def cancel(
    ctx: ServiceContext, agent: Agent, task_id: str, request_id: str | None = None
) -> ActionResult:
    async with ctx.unit_of_work(Actor(agent.id, request_id)) as uow:
        task = await _load_for_change(uow, agent, task_id)
        if task.status == TaskStatus.CANCELED:
            return ActionResult(True, "task was already canceled", {"status": task.status})
        canceled = await occurrences.due_work_close_pending(
            uow.conn, task_id, state=WorkState.CANCELED, reason="task canceled", now=uow.now
        )
        changes = {"status": TaskStatus.CANCELED.value, "next_run_at": None}
        await _transition(uow, task_id, changes, "cancel", {"canceled_occurrences": canceled})
    return ActionResult(
        True,
        "task canceled",
        {"status": TaskStatus.CANCELED.value, "canceled_occurrences": canceled},
    )


def task_view(task: Task) -> dict[str, Any]:
    """The public JSON form of a task (the API's Task schema)."""
    return asdict(task)


@dataclass(frozen=True)
class TaskAction:
    """An action on one task that takes nothing but its id: the REST API and the MCP server
    both offer every one of them, from this table."""

    name: str  # the REST path segment: POST /tasks/{id}/<name>
    summary: str
    description: str
    run: Callable[[ServiceContext, Agent, str, str | None], Awaitable[ActionResult]]
    may_conflict: bool = True  # whether some task state refuses it (409)


ACTIONS = (
    TaskAction(
        "run_now",
        "Run now",
        "Queue one occurrence for right now (also while paused); details hold its `due_work_id`.",
        run_now,
    ),
    TaskAction("pause", "Pause", "Stop the task's schedule until it is resumed.", pause),
    TaskAction(
        "resume",
        "Resume",
        "Resume from now: occurrences that fell due while paused are recorded as missed.",
        resume,
    ),
    TaskAction(
        "cancel",
        "Cancel (final)",
        "Cancel for good; pending occurrences are canceled, runs and the ledger are kept.",
        cancel,
        may_conflict=False,
    ),
)
