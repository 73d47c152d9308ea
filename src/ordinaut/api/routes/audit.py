"""Routes: the audit log (admin). Rows are written by the changes themselves, never here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ordinaut.api.auth import require
from ordinaut.api.schemas import MAX_OFFSET, Output, Page
from ordinaut.core.models import Agent
from ordinaut.services.context import ServiceContext
from ordinaut.store.audit import audit_list

router = APIRouter(tags=["audit"])


class AuditOut(Output):
    id: int
    actor: str | None
    action: str
    subject_type: str
    subject_id: str | None
    details: dict[str, Any]
    request_id: str | None
    created_at: datetime


class AuditPage(Page[AuditOut]):
    pass


@router.get("/audit", response_model=AuditPage, summary="Read the audit log, newest first")
async def list_audit(
    request: Request,
    _admin: Annotated[Agent, Depends(require("admin"))],
    actor: Annotated[str | None, Query(max_length=100, description="an agent id")] = None,
    action: Annotated[str | None, Query(max_length=64, examples=["agent.create"])] = None,
    subject_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AuditPage:
    """Who changed what: actor (agent id, null for the system), action, subject, details."""
    context: ServiceContext = request.app.state.context
    async with context.store.connect() as conn:
        rows, total = await audit_list(
            conn, limit=limit, offset=offset, actor=actor, action=action, subject_id=subject_id
        )
    return AuditPage.of([AuditOut.model_validate(r) for r in rows], total, limit, offset)
