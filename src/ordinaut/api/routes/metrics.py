"""Routes: Prometheus metrics (`GET /metrics`; the observability extension serves the same)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from ordinaut.api import app as application  # module: app.py imports this one
from ordinaut.api.auth import require
from ordinaut.core.models import Agent
from ordinaut.services.metrics import CONTENT_TYPE

# the scope of the observability extension's routes: one key lets Prometheus scrape either
METRICS_SCOPE = "ext:observability:routes"
router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}},
)
async def metrics(
    request: Request, _: Annotated[Agent, Depends(require(METRICS_SCOPE))]
) -> Response:
    """This API process's request counts and latencies, and the deployment's tasks, queue,
    scheduler lag, outbox and processes as the database holds them now."""
    body = await request.app.state.metrics.exposition(application.context_of(request))
    return Response(body, media_type=CONTENT_TYPE)
