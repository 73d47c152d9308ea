"""The FastAPI app factory: `create_app(settings)` builds a fresh app, no globals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI, Request

from ordinaut import __version__
from ordinaut.api.auth import Authenticator, require_extension_scope
from ordinaut.api.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    RequestMetricsMiddleware,
)
from ordinaut.api.problems import install_problem_handlers
from ordinaut.api.routes import (
    agents,
    audit,
    events,
    extensions,
    health,
    metrics,
    pipelines,
    runs,
    schedules,
    tasks,
    tools,
    work,
)
from ordinaut.api.tokens import check_jwt_settings
from ordinaut.core.clock import Clock, SystemClock
from ordinaut.core.settings import Settings
from ordinaut.events import EventBus, create_bus
from ordinaut.pipeline import ToolRegistry
from ordinaut.plugins import ExtensionManager, parse_grants
from ordinaut.services.context import ServiceContext
from ordinaut.services.metrics import Metrics
from ordinaut.services.relay import OutboxRelay
from ordinaut.services.toolbox import build_tools
from ordinaut.store.channels import OUTBOX_PENDING
from ordinaut.store.engine import Store

ROUTERS = (
    health,
    agents,
    tasks,
    schedules,
    pipelines,
    tools,
    runs,
    work,
    events,
    extensions,
    audit,
    metrics,
)


class Component(Protocol):
    """Something the app runs beside itself (the embedded scheduler and worker of `ordinaut up`)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def context_of(request: Request) -> ServiceContext:
    """The app's ServiceContext: what every route hands to the service layer."""
    context: ServiceContext = request.app.state.context
    return context


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    registry: ToolRegistry | None = None,
    bus: EventBus | None = None,
    components: Callable[[ServiceContext], Sequence[Component]] | None = None,
    relay: bool = True,
) -> FastAPI:
    """Build the API. `store`, `registry`, `bus` are injected by the CLI and tests; what the
    app creates itself it also closes. `components(context)` gives what runs beside the API
    (the embedded scheduler and worker), started after the tool registry is built.

    Without a registry, the lifespan builds one (built-ins, catalog, extension tools).
    """
    check_jwt_settings(settings)
    owns_store, owns_bus = store is None, bus is None
    store = store or Store(settings.database_url)
    bus = bus or create_bus(settings.redis_url)
    context = ServiceContext(settings, store, clock or SystemClock(), registry or ToolRegistry())
    metrics_registry = Metrics()
    manager = ExtensionManager(
        settings,
        bus,
        services={"context": context, "store": store, "metrics": metrics_registry},
        plugin_grants=parse_grants(settings.ext_grants),
    )
    outbox_relay = OutboxRelay(store, bus, context.clock) if relay else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await manager.start()
        if registry is None:
            context.registry = await build_tools(context, manager.tools())
        running: list[Component] = [outbox_relay] if outbox_relay else []
        running += list(components(context)) if components else []
        started: list[Component] = []
        try:
            for component in running:
                await component.start()
                started.append(component)
            yield
        finally:
            for component in reversed(started):
                await component.stop()
            await manager.shutdown()
            if owns_bus:
                await bus.close()
            if owns_store:
                await store.dispose()

    app = FastAPI(
        title="Ordinaut",
        version=__version__,
        description="A durable task scheduler for AI agents: tasks, schedules, pipelines, runs.",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.context = context
    app.state.bus = bus
    app.state.extensions = manager
    app.state.authenticator = Authenticator(settings, store)
    app.state.metrics = metrics_registry
    install_problem_handlers(app)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics_registry)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    for module in ROUTERS:
        app.include_router(module.router)
    manager.mount(app, require_extension_scope)
    if outbox_relay is not None:
        context.signals[OUTBOX_PENDING] = outbox_relay.wakeup
    return app
