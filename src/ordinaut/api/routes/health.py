"""Health: liveness and readiness for probes (no credential), component checks (any agent).

`/health/live` and `/health/ready` take no credential on purpose: load balancers and
orchestrators probe them without secrets, and they reveal only "up" or "database unreachable".
`/health` shows pool use, processes and lag, so it needs a valid credential (any scope).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ordinaut.api.auth import require
from ordinaut.core.errors import OrdinautError, StoreUnavailable
from ordinaut.core.models import Agent
from ordinaut.core.states import ProcessKind
from ordinaut.services.context import ServiceContext
from ordinaut.store.engine import Store
from ordinaut.store.workers import WorkerInfo, worker_list

router = APIRouter(tags=["health"])

PING_TIMEOUT_SECONDS = 3.0
HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}


class Pingable(Protocol):
    async def ping(self) -> None: ...


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, **self.details}


@dataclass(frozen=True)
class HealthReport:
    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default=HEALTHY)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checks": [c.as_dict() for c in self.checks]}


async def ping_store(store: Store) -> float:
    """Milliseconds for `SELECT 1`; `StoreUnavailable` when the database does not answer."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(store.ping(), PING_TIMEOUT_SECONDS)
    except TimeoutError:
        raise StoreUnavailable(f"database did not answer in {PING_TIMEOUT_SECONDS}s") from None
    return round((time.perf_counter() - started) * 1000, 2)


async def database_check(store: Store) -> Check:
    try:
        latency = await ping_store(store)
    except StoreUnavailable as exc:
        return Check("database", UNHEALTHY, {"dialect": store.dialect, "error": exc.message})
    details = {"dialect": store.dialect, "latency_ms": latency, "pool": store.pool_status()}
    return Check("database", HEALTHY, details)


async def event_bus_check(bus: Pingable | None) -> Check:
    """Without a bus the app publishes in-process: nothing to reach, so nothing to fail."""
    if bus is None:
        return Check("event_bus", HEALTHY, {"mode": "in-process"})
    mode = type(bus).__name__
    try:
        await asyncio.wait_for(bus.ping(), PING_TIMEOUT_SECONDS)
    except (OrdinautError, OSError, TimeoutError) as exc:
        return Check("event_bus", DEGRADED, {"mode": mode, "error": str(exc) or "timed out"})
    return Check("event_bus", HEALTHY, {"mode": mode})


def _age_seconds(entry: WorkerInfo, now: datetime) -> float:
    return round(max(0.0, (now - entry.last_seen_at).total_seconds()), 3)


def scheduler_check(rows: list[WorkerInfo], now: datetime, stale_after: float) -> Check:
    """Lag: how long since the freshest scheduler heartbeat."""
    schedulers = [r for r in rows if r.kind == ProcessKind.SCHEDULER]
    if not schedulers:
        return Check("scheduler", DEGRADED, {"instances": 0, "detail": "no scheduler registered"})
    lag = min(_age_seconds(r, now) for r in schedulers)
    status = HEALTHY if lag <= stale_after else DEGRADED
    return Check("scheduler", status, {"instances": len(schedulers), "lag_seconds": lag})


def workers_check(rows: list[WorkerInfo], now: datetime, stale_after: float) -> Check:
    """Workers whose heartbeat is newer than `stale_after` count as alive."""
    workers = [r for r in rows if r.kind == ProcessKind.WORKER]
    alive = [w for w in workers if _age_seconds(w, now) <= stale_after]
    details = {
        "alive": len(alive),
        "registered": len(workers),
        "running": sum(w.running for w in alive),
        "stale_after_seconds": stale_after,
    }
    return Check("workers", HEALTHY if alive else DEGRADED, details)


async def health_report(context: ServiceContext, bus: Pingable | None) -> HealthReport:
    database = await database_check(context.store)
    checks = [database, await event_bus_check(bus)]
    stale_after = 3 * context.settings.worker_lease_seconds
    if database.status == UNHEALTHY:
        unknown = {"detail": "unknown: the database is unreachable"}
        checks += [Check("scheduler", DEGRADED, unknown), Check("workers", DEGRADED, unknown)]
        return HealthReport(tuple(checks))
    async with context.store.connect() as conn:
        rows = await worker_list(conn)
    now = context.clock.now()
    checks += [scheduler_check(rows, now, stale_after), workers_check(rows, now, stale_after)]
    return HealthReport(tuple(checks))


@router.get("/health/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/health/ready",
    summary="The database answers",
    responses={503: {"description": "the database is unreachable (problem+json)"}},
)
async def ready(request: Request) -> dict[str, Any]:
    """200 when this process can serve requests; 503 problem+json when the database is down."""
    context: ServiceContext = request.app.state.context
    latency = await ping_store(context.store)
    return {"status": "ready", "database_latency_ms": latency}


@router.get(
    "/health",
    summary="Component checks",
    responses={503: {"description": "unhealthy: the body still lists every check"}},
)
async def health(
    request: Request, _agent: Annotated[Agent, Depends(require(None))]
) -> JSONResponse:
    """`healthy`, `degraded` (200: serving, but a component needs attention) or `unhealthy`
    (503) with one entry per component: database, event bus, scheduler lag, worker heartbeats."""
    report = await health_report(request.app.state.context, getattr(request.app.state, "bus", None))
    return JSONResponse(report.as_dict(), status_code=503 if report.status == UNHEALTHY else 200)
