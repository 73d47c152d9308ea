"""Routes: preview any schedule before saving it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ordinaut.api import app as application  # module: app.py imports this one
from ordinaut.api.auth import require
from ordinaut.api.schemas import PreviewIn, PreviewOut, problems
from ordinaut.core.models import Agent
from ordinaut.services.schedules import preview_unsaved

router = APIRouter(tags=["schedules"], responses=problems(401, 403, 422))


@router.post("/schedules/preview", response_model=PreviewOut, summary="Preview a schedule")
async def preview(
    request: Request, agent: Annotated[Agent, Depends(require("tasks:read"))], body: PreviewIn
) -> PreviewOut:
    """The next `count` occurrences, each with its local time, UTC instant, offset and DST note
    (shifted, skipped, repeated). An RRULE without DTSTART is anchored at this minute, as a task
    created now would be.
    """
    ctx = application.context_of(request)
    occurrences = preview_unsaved(
        body.schedule_kind,
        body.schedule_expr,
        body.timezone or ctx.settings.default_timezone,
        now=ctx.clock.now(),
        after=body.after,
        count=body.count,
        dst_gap=body.dst_gap,
        dst_overlap=body.dst_overlap,
    )
    return PreviewOut.model_validate({"occurrences": occurrences})
