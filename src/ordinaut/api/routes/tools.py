"""Routes: the tools a pipeline step may use, with their input and output schemas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from ordinaut.api import app as application  # module: app.py imports this one
from ordinaut.api.auth import require
from ordinaut.api.schemas import ToolOut, problems
from ordinaut.core.errors import NotFound
from ordinaut.core.models import Agent
from ordinaut.pipeline import allowed

router = APIRouter(tags=["tools"], responses=problems(401, 403))

Reader = Annotated[Agent, Depends(require("tools:read"))]


@router.get("/tools", response_model=list[ToolOut], summary="Tools you may use")
async def list_tools(request: Request, agent: Reader) -> list[ToolOut]:
    """Every tool a task owned by the caller may use (a tool can need scopes of its owner)."""
    registry = application.context_of(request).registry
    return [ToolOut.model_validate(registry.describe(t)) for t in registry.visible_to(agent.scopes)]


@router.get(
    "/tools/{name:path}", response_model=ToolOut, summary="One tool", responses=problems(404)
)
async def get_tool(
    request: Request,
    agent: Reader,
    name: Annotated[str, Path(description="`namespace.name`, e.g. echo.message")],
) -> ToolOut:
    """A tool's description and schemas; 404 for an unknown tool or one you may not use."""
    registry = application.context_of(request).registry
    tool = registry.find(name)
    if tool is None or not allowed(tool, agent.scopes):
        raise NotFound(registry.unknown_message(name))
    return ToolOut.model_validate(registry.describe(tool))
