"""`ExtensionManager`: discovers, loads, reports and shuts down extensions.

Every extension is isolated: whatever its import, `setup`, startup hooks or background jobs
raise is caught, logged and shown as `error` with the phase it happened in; the app and the
other extensions carry on. Loading is once per extension (guarded by a lock, so concurrent
first requests to a lazy extension load it once); a failed load stays failed until restart.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from structlog.typing import FilteringBoundLogger

from ordinaut.core.errors import NotFound
from ordinaut.core.settings import Settings
from ordinaut.events.bus import EventBus
from ordinaut.plugins.capabilities import CapabilitySet, requested_capabilities
from ordinaut.plugins.context import ExtensionContext, ExtensionTool
from ordinaut.plugins.discovery import (
    DiscoveredExtension,
    ExtensionSource,
    discover_directories,
    discover_entry_points,
    import_extension,
)
from ordinaut.plugins.routing import extension_gateway
from ordinaut.plugins.supervisor import BackgroundSupervisor, Backoff

BUILTIN_ROOT = Path(__file__).resolve().parent.parent / "extensions"
BUILTIN_PACKAGE = "ordinaut.extensions"


class ExtensionStatus(StrEnum):
    DISCOVERED = "discovered"  # left when loaded (eagerly at start, lazily on first request)
    LOADED = "loaded"  # shown as error while a background job is crashing
    ERROR = "error"  # final until restart: manifest, import or setup failed


class ErrorPhase(StrEnum):
    MANIFEST = "manifest"
    IMPORT = "import"
    SETUP = "setup"
    BACKGROUND = "background"


@dataclass(frozen=True)
class ExtensionFailure:
    phase: ErrorPhase
    message: str


@dataclass
class _Record:
    found: DiscoveredExtension
    enabled: bool
    status: ExtensionStatus = ExtensionStatus.DISCOVERED
    failure: ExtensionFailure | None = None
    context: ExtensionContext | None = None
    target: object = None
    stack: AsyncExitStack | None = None
    requests: int = 0
    seconds: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def fail(self, phase: ErrorPhase, exc: BaseException | str) -> None:
        message = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.status, self.failure = ExtensionStatus.ERROR, ExtensionFailure(phase, message)


class ExtensionManager:
    """One per app: `discover()`, `start()` (eager loads), `mount(app, auth)`, `shutdown()`."""

    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        *,
        services: Mapping[str, object] | None = None,
        plugin_grants: Mapping[str, Iterable[object]] | None = None,
        builtin_root: Path | None = BUILTIN_ROOT,
        builtin_package: str = BUILTIN_PACKAGE,
        backoff: Backoff | None = None,
        setup_timeout: float = 30.0,
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._services = services or {}
        self._grants = plugin_grants or {}
        self._builtin = (builtin_root, builtin_package)
        self._backoff = backoff
        self._setup_timeout = setup_timeout
        self._records: dict[str, _Record] = {}
        self._app: FastAPI | None = None
        self._log: FilteringBoundLogger = structlog.get_logger("ordinaut.extensions")

    def discover(self) -> list[str]:
        """Find every extension; the first of a duplicated id wins (built-in, path, entry point).

        Safe to call again: known extensions keep their state.
        """
        root, package = self._builtin
        found = [
            *(discover_directories([root], ExtensionSource.BUILTIN, package) if root else []),
            *discover_directories(self._settings.ext_paths, ExtensionSource.PATH),
            *discover_entry_points(self._grants),
        ]
        for item in found:
            if item.id in self._records:
                if self._records[item.id].found.location != item.location:
                    self._log.warning(
                        "duplicate extension id ignored", ext=item.id, at=item.location
                    )
                continue
            self._records[item.id] = self._record(item)
        return list(self._records)

    def _record(self, found: DiscoveredExtension) -> _Record:
        wanted = self._settings.extensions_enabled
        listed = found.manifest.enabled if found.manifest else True
        enabled = (listed if wanted is None else found.id in wanted) and (
            found.id not in self._settings.extensions_disabled
        )
        record = _Record(found, enabled)
        if found.problem is not None:
            record.fail(ErrorPhase.MANIFEST, found.problem)
        return record

    async def start(self) -> None:
        """Discover (if not yet) and load every enabled eager extension, one at a time."""
        if not self._records:
            self.discover()
        for ext_id, record in list(self._records.items()):
            manifest = record.found.manifest
            if record.enabled and manifest is not None and manifest.eager:
                await self.load(ext_id)

    async def load(self, ext_id: str) -> ExtensionStatus:
        """Load once; never raises for a broken extension (see `status`), only for an
        unknown or disabled id (`NotFound`)."""
        record = self._records.get(ext_id)
        if record is None or not record.enabled:
            state = "unknown" if record is None else "disabled"
            raise NotFound(f"extension {ext_id!r} is {state}")
        async with record.lock:
            if record.status is ExtensionStatus.DISCOVERED:
                await self._load(record)
        return record.status

    async def _load(self, record: _Record) -> None:
        ext_id = record.found.id
        log = self._log.bind(ext=ext_id)
        try:
            record.target = import_extension(record.found)
            requested = requested_capabilities(record.target)
            setup = getattr(record.target, "setup", None)
            if not callable(setup):
                raise TypeError("the extension has no setup(ctx) function")
        except (Exception, SystemExit) as exc:
            log.error("extension import failed", error=str(exc))
            return record.fail(ErrorPhase.IMPORT, exc)
        context = self._context(record, requested, log)
        try:
            await self._run_setup(record, setup, context)
        except (Exception, SystemExit) as exc:
            log.error("extension setup failed", error=str(exc))
            await context.supervisor.stop()
            return record.fail(ErrorPhase.SETUP, exc)
        record.context, record.status = context, ExtensionStatus.LOADED
        granted = sorted(c.value for c in context.capabilities.effective)
        log.info("extension loaded", capabilities=granted)

    def _context(
        self, record: _Record, requested: frozenset[Any], log: FilteringBoundLogger
    ) -> ExtensionContext:
        found = record.found
        assert found.manifest is not None
        source = (
            "configuration (ORDINAUT_EXT_GRANTS)"
            if found.source is ExtensionSource.ENTRY_POINT
            else f"the manifest's `grants` ({found.location})"
        )
        caps = CapabilitySet(found.id, requested, found.manifest.grants, source)
        supervisor = BackgroundSupervisor(found.id, log, self._backoff)
        return ExtensionContext(
            caps,
            bus=self._bus,
            settings=self._settings,
            logger=log,
            supervisor=supervisor,
            services=self._services,
        )

    async def _run_setup(
        self, record: _Record, setup: Callable[..., Any], context: ExtensionContext
    ) -> None:
        """`setup(ctx)` (sync or async), then the router's startup hooks, within the timeout."""
        async with asyncio.timeout(self._setup_timeout):
            result = setup(context)
            if inspect.isawaitable(result):
                await result
            stack = AsyncExitStack()
            await stack.enter_async_context(context.router.lifespan_context(self._app))
            record.stack = stack

    async def shutdown(self) -> None:
        """Stop background jobs, run shutdown hooks and `teardown(ctx)`; errors are logged."""
        for record in self._records.values():
            if record.context is None:
                continue
            log = self._log.bind(ext=record.found.id)
            await record.context.supervisor.stop()
            try:
                if record.stack is not None:
                    await record.stack.aclose()
                teardown = getattr(record.target, "teardown", None)
                if callable(teardown):
                    result = teardown(record.context)
                    if inspect.isawaitable(result):
                        await result
            except Exception as exc:
                log.error("extension teardown failed", error=str(exc))
            record.context, record.stack = None, None
            record.status = ExtensionStatus.DISCOVERED

    def status(self, ext_id: str) -> tuple[ExtensionStatus, ExtensionFailure | None]:
        """Current status; a loaded extension whose background job is crashing shows `error`."""
        record = self._records[ext_id]
        context = record.context
        failing = context.supervisor.failing() if context is not None else None
        if record.status is ExtensionStatus.LOADED and failing is not None:
            message = f"background job {failing.name!r} crashed {failing.crashes}x, restarting: "
            failure = ExtensionFailure(ErrorPhase.BACKGROUND, message + str(failing.last_error))
            return ExtensionStatus.ERROR, failure
        return record.status, record.failure

    def record_request(self, ext_id: str, seconds: float) -> None:
        record = self._records.get(ext_id)
        if record is not None:
            record.requests += 1
            record.seconds += seconds

    def is_enabled(self, ext_id: str) -> bool:
        record = self._records.get(ext_id)
        return record is not None and record.enabled

    def is_public(self, ext_id: str, method: str, path: str) -> bool:
        """A GET or HEAD of a path the enabled extension's manifest lists as public."""
        record = self._records.get(ext_id)
        manifest = record.found.manifest if record is not None and record.enabled else None
        return method in ("GET", "HEAD") and manifest is not None and manifest.is_public(path)

    def context(self, ext_id: str) -> ExtensionContext | None:
        """The live context of a loaded extension (its router, tools, supervisor)."""
        record = self._records.get(ext_id)
        return record.context if record is not None else None

    def target(self, ext_id: str) -> object:
        """The imported object holding `setup` (usually the module), once imported."""
        record = self._records.get(ext_id)
        return record.target if record is not None else None

    def tools(self) -> list[ExtensionTool]:
        """Tools of every loaded extension, for the pipeline's tool registry."""
        return [
            tool
            for record in self._records.values()
            if record.context is not None
            for tool in record.context.registrar.tools
        ]

    def describe(self) -> list[dict[str, Any]]:
        """One entry per extension for `GET /extensions`."""
        return [self._describe(ext_id) for ext_id in sorted(self._records)]

    def _describe(self, ext_id: str) -> dict[str, Any]:
        record = self._records[ext_id]
        manifest = record.found.manifest
        status, failure = self.status(ext_id)
        context = record.context
        return {
            "id": ext_id,
            "name": manifest.name if manifest else ext_id,
            "version": manifest.version if manifest else "",
            "description": manifest.description if manifest else "",
            "source": record.found.source.value,
            "enabled": record.enabled,
            "eager": manifest.eager if manifest else False,
            "grants": sorted(c.value for c in manifest.grants) if manifest else [],
            "capabilities": sorted(c.value for c in context.capabilities.effective)
            if context
            else [],
            "status": status.value,
            "error": {"phase": failure.phase.value, "message": failure.message}
            if failure
            else None,
            "requests": record.requests,
            "avg_latency_ms": round(record.seconds / record.requests * 1000, 3)
            if record.requests
            else None,
        }

    def mount(self, app: FastAPI, auth_dependency: Callable[..., Any] | None) -> None:
        """Serve every extension at `/ext/<id>/` behind `auth_dependency` (see plugins.routing)."""
        self._app = app
        app.include_router(extension_gateway(self, auth_dependency), prefix="/ext")
