"""The MCP server's tools: each one a service call, as the agent whose credential made the HTTP
request, with the scope the matching REST route needs (admin holds every scope).

A domain error becomes a tool error the model can read (`invalid_input: ...` with each field
at fault), never a crash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from ordinaut.core.errors import OrdinautError
from ordinaut.core.models import Agent
from ordinaut.core.states import DstGap, DstOverlap, ScheduleKind
from ordinaut.services import runs, tasks
from ordinaut.services.context import ServiceContext
from ordinaut.services.events import publish_event
from ordinaut.services.schedules import preview_task, preview_unsaved
from ordinaut.services.task_inputs import TaskDraft, TaskPatch

T = TypeVar("T")
Json = dict[str, Any]
TaskId = str


def caller(mcp: Context, scope: str) -> Agent:
    """The agent the gateway authenticated for this HTTP request, holding `scope`."""
    request = mcp.request_context.request
    agent = getattr(getattr(request, "state", None), "agent", None)
    if not isinstance(agent, Agent):
        raise ToolError("unauthenticated: call this server through /ext/mcp_http/mcp")
    if scope not in agent.scopes and "admin" not in agent.scopes:
        raise ToolError(f"forbidden: this tool needs the {scope!r} scope")
    return agent


async def answer(call: Awaitable[T]) -> T:
    """The service's answer, or its domain error as a tool error naming each field at fault."""
    try:
        return await call
    except OrdinautError as exc:
        fields = "; ".join(f"{_path(e.loc)}: {e.msg}" for e in exc.errors)
        raise ToolError(f"{exc.code}: {exc.message}" + (f" ({fields})" if fields else "")) from exc


def _path(loc: Sequence[str | int]) -> str:
    """A field's path as the tool's caller wrote it (the services name REST's `body`)."""
    return ".".join(str(part) for part in (loc[1:] if loc[:1] == ("body",) else loc))


def register_tools(server: MCPServer, services: ServiceContext) -> None:
    """Every tool of the server; one function per tool keeps each short."""
    for register in (_task_tools, _action_tools, _schedule_tools, _run_tools, _other_tools):
        register(server, services)


def _task_tools(server: MCPServer, ctx: ServiceContext) -> None:
    @server.tool(description="Create a scheduled task: a schedule and a pipeline of tool steps.")
    async def create_task(task: TaskDraft, mcp: Context) -> Json:
        agent = caller(mcp, "tasks:write")
        created, _ = await answer(tasks.create_task(ctx, agent, task))
        return tasks.task_view(created)

    @server.tool(description="List your tasks, newest first, optionally by status.")
    async def list_tasks(
        mcp: Context,
        status: str | None = None,
        limit: int = Field(50, ge=1, le=500),
        offset: int = Field(0, ge=0),
    ) -> Json:
        agent = caller(mcp, "tasks:read")
        found, total = await answer(
            tasks.list_tasks(
                ctx, agent, status=status, schedule_kind=None, created_by=None,
                limit=limit, offset=offset,
            )
        )  # fmt: skip
        return {"items": [tasks.task_view(t) for t in found], "total": total}

    @server.tool(description="One task by id.")
    async def get_task(task_id: TaskId, mcp: Context) -> Json:
        return tasks.task_view(
            await answer(tasks.get_task(ctx, caller(mcp, "tasks:read"), task_id))
        )

    @server.tool(description="Change some fields of a task; a new schedule takes effect at once.")
    async def update_task(task_id: TaskId, changes: TaskPatch, mcp: Context) -> Json:
        agent = caller(mcp, "tasks:write")
        return tasks.task_view(await answer(tasks.update_task(ctx, agent, task_id, changes)))


def _action_tools(server: MCPServer, ctx: ServiceContext) -> None:
    for action in tasks.ACTIONS:
        name = "run_task_now" if action.name == "run_now" else f"{action.name}_task"
        server.tool(name=name, description=action.description)(_action_tool(ctx, action))

    @server.tool(description="Move a task's pending runs later (or its next one, if none).")
    async def snooze_task(
        task_id: TaskId,
        mcp: Context,
        delay_seconds: int = Field(ge=1, le=604_800, description="1 second to 7 days"),
        reason: str | None = Field(None, max_length=500),
    ) -> Json:
        agent = caller(mcp, "tasks:write")
        return asdict(await answer(tasks.snooze(ctx, agent, task_id, delay_seconds, reason)))


def _action_tool(
    ctx: ServiceContext, action: tasks.TaskAction
) -> Callable[[TaskId, Context], Awaitable[Json]]:
    async def act(task_id: TaskId, mcp: Context) -> Json:
        return asdict(await answer(action.run(ctx, caller(mcp, "tasks:write"), task_id, None)))

    return act


def _schedule_tools(server: MCPServer, ctx: ServiceContext) -> None:
    @server.tool(description="A saved task's next occurrences, with DST notes.")
    async def task_schedule(
        task_id: TaskId, mcp: Context, count: int = Field(5, ge=1, le=100)
    ) -> Json:
        task = await answer(tasks.get_task(ctx, caller(mcp, "tasks:read"), task_id))
        return {"occurrences": preview_task(task, ctx.clock.now(), count)}

    @server.tool(
        description="The next occurrences of a schedule (cron, rrule, once) before saving it, "
        "each with its local time, UTC instant, offset and DST note."
    )
    async def preview_schedule(
        schedule_kind: ScheduleKind,
        schedule_expr: str,
        mcp: Context,
        timezone: str | None = None,
        count: int = Field(5, ge=1, le=100),
        dst_gap: DstGap = DstGap.SHIFT,
        dst_overlap: DstOverlap = DstOverlap.FIRST,
    ) -> Json:
        caller(mcp, "tasks:read")
        zone = timezone or ctx.settings.default_timezone

        async def compute() -> list[Json]:
            return preview_unsaved(
                schedule_kind, schedule_expr, zone, now=ctx.clock.now(), after=None,
                count=count, dst_gap=dst_gap, dst_overlap=dst_overlap,
            )  # fmt: skip

        return {"occurrences": await answer(compute())}


def _run_tools(server: MCPServer, ctx: ServiceContext) -> None:
    @server.tool(description="Runs of your tasks, newest first, with each step's output.")
    async def list_runs(
        mcp: Context,
        task_id: TaskId | None = None,
        success: bool | None = None,
        include_errors: bool = False,
        limit: int = Field(20, ge=1, le=200),
    ) -> Json:
        agent = caller(mcp, "runs:read")
        found, total = await answer(
            runs.list_runs(ctx, agent, task_id=task_id, success=success, limit=limit)
        )
        return {"items": [_run_view(r, include_errors) for r in found], "total": total}

    @server.tool(description="One run by id, its error included.")
    async def get_run(run_id: str, mcp: Context) -> Json:
        return _run_view(await answer(runs.get_run(ctx, caller(mcp, "runs:read"), run_id)), True)


def _run_view(run: Any, include_errors: bool) -> Json:
    view: Json = asdict(run)
    if not include_errors:
        view["error"] = None
    return view


def _other_tools(server: MCPServer, ctx: ServiceContext) -> None:
    @server.tool(description="The tools your tasks' pipeline steps may use, with their schemas.")
    async def list_tools(mcp: Context) -> Json:
        agent = caller(mcp, "tools:read")
        visible = ctx.registry.visible_to(agent.scopes)
        return {"tools": [ctx.registry.describe(t) for t in visible]}

    @server.tool(description="Publish an event; every active task listening on its topic runs.")
    async def publish(topic: str, payload: Json, mcp: Context) -> Json:
        agent = caller(mcp, "events:publish")
        published = await answer(
            publish_event(ctx, topic=topic, payload=payload, agent_id=agent.id, source="mcp")
        )
        return published.as_dict()
