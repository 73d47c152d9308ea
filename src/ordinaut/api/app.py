"""The FastAPI app factory: `create_app(settings)` builds a fresh app, no globals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import FastAPI, Request

from ordinaut import __version__
from ordinaut.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from ordinaut.api.problems import install_problem_handlers
from ordinaut.api.routes import health
from ordinaut.core.clock import Clock, SystemClock
from ordinaut.core.settings import Settings
from ordinaut.store.engine import Store


class Component(Protocol):
    """Something the app runs beside itself (the embedded scheduler and worker of `ordinaut up`)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Services:
    """What route handlers need, built once per app and reached through `request.app.state`."""

    settings: Settings
    store: Store
    clock: Clock
    extras: dict[str, Any] = field(default_factory=dict)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    components: Sequence[Component] = (),
) -> FastAPI:
    """Build the API. `store` and `components` are injected by the CLI (and by tests)."""
    owns_store = store is None
    services = Services(settings, store or Store(settings.database_url), clock or SystemClock())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started: list[Component] = []
        try:
            for component in components:
                await component.start()
                started.append(component)
            yield
        finally:
            for component in reversed(started):
                await component.stop()
            if owns_store:
                await services.store.dispose()

    app = FastAPI(
        title="Ordinaut",
        version=__version__,
        description="A durable task scheduler for AI agents: tasks, schedules, pipelines, runs.",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.services = services
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health.router)
    return app
