"""Serves the app's Prometheus metrics under the extension's prefix (the same text as
`GET /metrics`), behind the scope `ext:observability:routes`."""

from __future__ import annotations

from fastapi import Response

from ordinaut.plugins import Capability, ExtensionContext
from ordinaut.services.context import ServiceContext
from ordinaut.services.metrics import CONTENT_TYPE, Metrics

requires = [Capability.ROUTES]


def setup(ctx: ExtensionContext) -> None:
    metrics, context = ctx.services["metrics"], ctx.services["context"]
    if not (isinstance(metrics, Metrics) and isinstance(context, ServiceContext)):
        raise TypeError("the host shares no metrics registry or service context")

    @ctx.routes.get("/metrics", summary="Prometheus metrics")
    async def scrape() -> Response:
        return Response(await metrics.exposition(context), media_type=CONTENT_TYPE)
