"""Routes: the extensions list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ordinaut.api.auth import require
from ordinaut.core.models import Agent

router = APIRouter(tags=["extensions"])


@router.get("/extensions")
async def list_extensions(
    request: Request, _: Annotated[Agent, Depends(require("tools:read"))]
) -> list[dict[str, Any]]:
    """Every discovered extension with its grants, status and request statistics."""
    described: list[dict[str, Any]] = request.app.state.extensions.describe()
    return described
