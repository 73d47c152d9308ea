"""HTTP entry to extensions: `/ext/<id>/...`, authenticated first, loaded on demand.

One gateway route catches every path under `/ext/<id>`. It runs the API's auth dependency
(which can read `request.path_params["ext_id"]` to demand the `ext:<id>:routes` scope), loads
the extension if it is lazy and not loaded yet, then forwards the untouched request to the
extension's own router, so a first request is answered directly (no redirect). A trailing
slash is stripped before forwarding, so `/ext/x/items/` and `/ext/x/items` are one route.
Errors raised on the way (unknown extension, failed load) are domain errors, mapped to
problem+json by the app's single handler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ordinaut.core.errors import NotFound, OrdinautError

if TYPE_CHECKING:
    from ordinaut.plugins.loader import ExtensionManager

PREFIX = "/ext"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class ExtensionUnavailable(OrdinautError):
    """A request reached an extension that failed to load."""

    def __init__(self, ext_id: str, phase: str, message: str) -> None:
        detail = f"extension {ext_id!r} failed ({phase}): {message}"
        super().__init__(detail, "extension_unavailable", 503, "Extension unavailable")


class _Forward(Response):
    """A 'response' that hands the request to the extension's router as a plain ASGI call."""

    def __init__(self, manager: ExtensionManager, ext_id: str, rest: str, target: ASGIApp) -> None:
        super().__init__()
        self._manager, self._ext_id, self._rest, self._target = manager, ext_id, rest, target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await self._target(self._child_scope(scope), receive, send)
        finally:
            self._manager.record_request(self._ext_id, time.perf_counter() - started)

    def _child_scope(self, scope: Scope) -> Scope:
        root = f"{scope.get('root_path', '')}{PREFIX}/{self._ext_id}"
        path = f"{root}/{self._rest.strip('/')}"
        child = {k: v for k, v in scope.items() if k not in ("endpoint", "route", "router")}
        child.update(root_path=root, path=path, path_params={})
        return child


def extension_gateway(
    manager: ExtensionManager, auth_dependency: Callable[..., Any] | None
) -> APIRouter:
    """The router to include at `/ext`; the auth dependency guards every extension route."""
    dependencies = [Depends(auth_dependency)] if auth_dependency is not None else []
    gateway = APIRouter(dependencies=dependencies, redirect_slashes=False)

    async def forward(ext_id: str, request: Request, path: str = "") -> Response:
        if not manager.is_enabled(ext_id):
            raise NotFound(f"no extension {ext_id!r}")
        await manager.load(ext_id)
        context = manager.context(ext_id)
        if context is None:
            _, failure = manager.status(ext_id)
            phase, message = (failure.phase, failure.message) if failure else ("load", "unknown")
            raise ExtensionUnavailable(ext_id, phase, message)
        return _Forward(manager, ext_id, path, context.router)

    for route in ("/{ext_id}", "/{ext_id}/{path:path}"):
        gateway.add_api_route(route, forward, methods=METHODS, include_in_schema=False)
    return gateway
