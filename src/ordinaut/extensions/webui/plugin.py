"""Serves the web UI: one page and its script at `/ext/webui/`.

The page and script hold no data, so the manifest lists them public (a browser cannot send a
bearer header when it opens a page); everything the page shows comes from the REST API,
called with the secret the person signs in with, which stays in the tab's sessionStorage.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

from ordinaut.plugins import Capability, ExtensionContext

requires = [Capability.ROUTES, Capability.STATIC]
STATIC = Path(__file__).resolve().parent / "static"


def setup(ctx: ExtensionContext) -> None:
    ctx.static(STATIC)

    @ctx.routes.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
