"""Health: liveness and readiness without a credential, component checks with one, and what an
unreachable database looks like on each."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ordinaut.api.app import create_app
from ordinaut.api.routes.health import health_report
from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.pipeline import ToolRegistry
from ordinaut.services.context import ServiceContext
from ordinaut.store.engine import Store
from ordinaut.store.workers import WorkerInfo, worker_register


async def register(store: Store, id: str, kind: str, age: timedelta) -> None:
    seen = SystemClock().now() - age
    entry = WorkerInfo(id, kind, "host", 1, "0", seen, seen, 2, 0, None)
    async with store.transaction() as conn:
        await worker_register(conn, entry)


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in body["checks"]}


async def test_ready_needs_no_credential(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_health_needs_a_credential_of_any_scope(
    client: httpx.AsyncClient, make_agent: Any
) -> None:
    assert (await client.get("/health")).status_code == 401
    nobody = await make_agent("nobody", [])
    assert (await client.get("/health", headers=nobody.headers)).status_code == 200


async def test_without_scheduler_or_workers_the_service_is_degraded(
    client: httpx.AsyncClient, alice: Any, store: Store
) -> None:
    response = await client.get("/health", headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    checks = by_name(body)
    assert list(checks) == ["database", "event_bus", "scheduler", "workers"]
    assert checks["database"]["status"] == "healthy"
    assert checks["database"]["latency_ms"] >= 0
    assert checks["database"]["dialect"] == store.dialect
    assert {"size", "checked_out"} <= checks["database"]["pool"].keys()
    assert checks["event_bus"]["status"] == "healthy"
    assert checks["scheduler"]["instances"] == 0
    assert checks["workers"]["alive"] == 0


async def test_fresh_heartbeats_make_it_healthy_and_stale_ones_do_not(
    client: httpx.AsyncClient, alice: Any, store: Store, settings: Settings
) -> None:
    stale = timedelta(seconds=settings.worker_lease_seconds * 3 + 60)
    await register(store, "sched-1", "scheduler", timedelta(seconds=1))
    await register(store, "worker-1", "worker", timedelta(seconds=1))
    await register(store, "worker-2", "worker", stale)
    body = (await client.get("/health", headers=alice.headers)).json()
    checks = by_name(body)
    assert body["status"] == "healthy"
    assert 0 <= checks["scheduler"]["lag_seconds"] < 60
    assert checks["workers"]["alive"] == 1
    assert checks["workers"]["registered"] == 2
    assert checks["workers"]["running"] == 2

    await register(store, "sched-1", "scheduler", stale)
    body = (await client.get("/health", headers=alice.headers)).json()
    assert body["status"] == "degraded"
    assert by_name(body)["scheduler"]["status"] == "degraded"
    assert by_name(body)["scheduler"]["lag_seconds"] > settings.worker_lease_seconds * 3


@pytest.fixture
def unreachable_url(db_url: str, tmp_path: Path) -> str:
    """A database of the same kind that cannot be reached: a closed port, a missing directory."""
    if db_url.startswith("postgresql"):
        return "postgresql://postgres@127.0.0.1:1/nowhere"
    return f"sqlite:///{tmp_path}/missing/dir/ordinaut.db"


async def test_an_unreachable_database_is_503(unreachable_url: str, alice: Any) -> None:
    settings = Settings(DATABASE_URL=unreachable_url, ENVIRONMENT="test")
    down = Store(unreachable_url)
    app = create_app(settings, store=down, relay=False)
    try:
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://down.test") as c:
                ready = await c.get("/health/ready")
                checked = await c.get("/health", headers=alice.headers)
                live = await c.get("/health/live")
        context = ServiceContext(settings, down, SystemClock(), ToolRegistry())
        report = await health_report(context, None)
    finally:
        await down.dispose()
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert "database unreachable" in ready.json()["detail"]
    # credentials cannot be checked either: a 503, never a 500
    assert checked.status_code == 503
    assert report.status == "unhealthy"
    assert report.as_dict()["checks"][0]["status"] == "unhealthy"
