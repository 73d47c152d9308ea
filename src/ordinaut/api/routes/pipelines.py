"""Routes: check a pipeline without saving a task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ordinaut.api import app as application  # module: app.py imports this one
from ordinaut.api.auth import require
from ordinaut.api.schemas import PipelineIn, ValidOut, problems
from ordinaut.core.models import Agent
from ordinaut.pipeline import validate_payload
from ordinaut.services.task_checks import check_storable

router = APIRouter(tags=["pipelines"], responses=problems(401, 403, 422))


@router.post("/pipelines/validate", response_model=ValidOut, summary="Validate a pipeline")
async def validate(
    request: Request, agent: Annotated[Agent, Depends(require("tasks:read"))], body: PipelineIn
) -> ValidOut:
    """Check a payload exactly as task creation would, against the tools this agent may use.

    200 `{valid: true}`, or 422 with one entry per problem, each located under
    `["body", "payload", ...]`.
    """
    check_storable({"payload": body.payload})
    validate_payload(body.payload, application.context_of(request).registry, agent.scopes)
    return ValidOut(valid=True)
