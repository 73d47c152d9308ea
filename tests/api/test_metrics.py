"""Prometheus metrics at GET /metrics and /ext/observability/metrics, read back with the
official client's own parser of the text format."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ordinaut import __version__
from ordinaut.core.clock import SystemClock
from ordinaut.store.engine import Store
from ordinaut.store.workers import WorkerInfo, worker_register

Caller = Any
MakeAgent = Any
TASK = {
    "title": "measured",
    "schedule_kind": "cron",
    "schedule_expr": "0 9 * * *",
    "payload": {"pipeline": [{"id": "a", "uses": "echo.message", "with": {"message": 1}}]},
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def families(
    client: httpx.AsyncClient, caller: Caller, path: str = "/metrics"
) -> list[Metric]:
    response = await client.get(path, headers=caller.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return list(text_string_to_metric_families(response.text))


async def scrape(client: httpx.AsyncClient, caller: Caller, path: str = "/metrics") -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in await families(client, caller, path)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def test_requests_are_counted_by_route_template(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    created = await client.post("/tasks", json=TASK, headers=admin.headers)
    assert created.status_code == 201
    task_id = created.json()["id"]
    for _ in range(2):
        await client.get(f"/tasks/{task_id}", headers=admin.headers)
    await client.get("/no/such/path", headers=admin.headers)
    samples = await scrape(client, admin)
    requests = "ordinaut_http_requests_total"
    assert value(samples, requests, method="POST", route="/tasks", status="201") == 1
    assert value(samples, requests, method="GET", route="/tasks/{task_id}", status="200") == 2
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    duration = "ordinaut_http_request_duration_seconds_count"
    assert value(samples, duration, method="GET", route="/tasks/{task_id}") == 2
    assert not any(task_id in str(labels) for _, labels in samples), "no ids in labels"
    assert value(samples, "ordinaut_build_info", version=__version__) == 1


async def test_deployment_gauges_follow_the_database(
    client: httpx.AsyncClient, admin: Caller, store: Store
) -> None:
    first = await scrape(client, admin)
    assert value(first, "ordinaut_tasks", status="active") == 0
    assert value(first, "ordinaut_queue_ready") == 0
    assert value(first, "ordinaut_processes_up", kind="worker") == 0
    task = (await client.post("/tasks", json=TASK, headers=admin.headers)).json()
    assert (await client.post(f"/tasks/{task['id']}/run_now", headers=admin.headers)).is_success
    now = SystemClock().now()
    async with store.transaction() as conn:
        await worker_register(conn, _worker("w-1", now, processed=41))
        await worker_register(conn, _worker("w-gone", now - timedelta(hours=1), processed=9))

    samples = await scrape(client, admin)
    assert value(samples, "ordinaut_tasks", status="active") == 1
    assert value(samples, "ordinaut_tasks", status="paused") == 0
    assert value(samples, "ordinaut_occurrences", state="scheduled") == 1
    assert value(samples, "ordinaut_queue_ready") == 1
    assert value(samples, "ordinaut_queue_oldest_ready_age_seconds") >= 0
    assert value(samples, "ordinaut_scheduler_lag_seconds") == 0, "next run is tomorrow 09:00"
    assert value(samples, "ordinaut_processes_up", kind="worker") == 1, "w-gone stopped beating"
    assert value(samples, "ordinaut_worker_processed_total", worker_id="w-1") == 41
    assert ("ordinaut_worker_processed_total", frozenset({("worker_id", "w-gone")})) not in samples


async def test_a_scrape_key_needs_only_the_observability_scope(
    client: httpx.AsyncClient, make_agent: MakeAgent
) -> None:
    prometheus = await make_agent("prometheus", ["ext:observability:routes"])
    core = await families(client, prometheus)
    extension = await families(client, prometheus, "/ext/observability/metrics")
    assert {f.name for f in core} == {f.name for f in extension}
    assert (await client.get("/tasks", headers=prometheus.headers)).status_code == 403
    assert (await client.get("/metrics")).status_code == 401


async def test_observability_is_a_builtin_extension(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    listed = {e["id"]: e for e in (await client.get("/extensions", headers=admin.headers)).json()}
    entry = listed["observability"]
    assert (entry["source"], entry["enabled"], entry["grants"]) == ("builtin", True, ["ROUTES"])


def _worker(worker_id: str, seen: Any, processed: int) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id, kind="worker", hostname="h", pid=1, version="t", started_at=seen,
        last_seen_at=seen, running=2, processed=processed, info=None,
    )  # fmt: skip
