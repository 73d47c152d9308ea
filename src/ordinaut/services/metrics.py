"""Prometheus metrics: what this API process counts, and what the database says at scrape time.

One registry per app (tests build several apps side by side). HTTP requests are counted here,
labelled by route template so the label set stays small. Tasks, the queue, the outbox and the
registered processes are read from the store at each scrape, so every API process reports the
same deployment-wide numbers whichever of them Prometheus asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ordinaut import __version__
from ordinaut.core.states import ProcessKind
from ordinaut.services.context import ServiceContext
from ordinaut.store.stats import DeploymentStats, deployment_stats
from ordinaut.store.workers import WorkerInfo, worker_list

# `generate_latest` writes the classic text format, version 0.0.4, which every Prometheus reads
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's own registry: request counts and latencies, and the build."""

    def __init__(self) -> None:
        # the classic text format writes each counter's creation time as a gauge family of its
        # own (`*_created`): series nobody graphs. A switch of the client library, not ours.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ordinaut_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ordinaut_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        build = GaugeMetricFamily("ordinaut_build_info", "The running version.", labels=["version"])
        build.add_metric([__version__], 1)
        self.registry.register(_Fixed([build]))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    async def exposition(self, ctx: ServiceContext) -> bytes:
        """The Prometheus text format: this process's metrics, then the deployment's."""
        now = ctx.clock.now()
        async with ctx.store.read() as conn:
            stats = await deployment_stats(conn, now)
            processes = await worker_list(conn)
        scrape = CollectorRegistry()
        # a process silent for three leases is not up, as the health check says
        stale_after = timedelta(seconds=3 * ctx.settings.worker_lease_seconds)
        families = [*stats_families(stats, now), *process_families(processes, now, stale_after)]
        scrape.register(_Fixed(families))
        return generate_latest(self.registry) + generate_latest(scrape)


class _Fixed(Collector):
    """Metric families computed before the registry renders them."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _age(then: datetime | None, now: datetime) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


def stats_families(stats: DeploymentStats, now: datetime) -> list[Metric]:
    tasks = GaugeMetricFamily("ordinaut_tasks", "Tasks by status.", labels=["status"])
    for status, count in sorted(stats.tasks.items()):
        tasks.add_metric([status], count)
    occurrences = GaugeMetricFamily(
        "ordinaut_occurrences", "Occurrences not yet finished, by state.", labels=["state"]
    )
    for state, count in sorted(stats.occurrences.items()):
        occurrences.add_metric([state], count)
    return [
        tasks,
        occurrences,
        _gauge("ordinaut_queue_ready", "Occurrences claimable now (run_at has come).", stats.ready),
        _gauge(
            "ordinaut_queue_oldest_ready_age_seconds",
            "How long the oldest claimable occurrence has waited for a worker (0: none).",
            _age(stats.oldest_ready_at, now),
        ),
        _gauge(
            "ordinaut_scheduler_lag_seconds",
            "How far behind its next_run_at the most overdue active task is (0: none due).",
            _age(stats.earliest_due_task_at, now),
        ),
        _gauge(
            "ordinaut_outbox_pending",
            "Events written but not yet relayed to the event bus.",
            stats.outbox_pending,
        ),
    ]


def process_families(
    processes: list[WorkerInfo], now: datetime, stale_after: timedelta
) -> list[Metric]:
    up = GaugeMetricFamily(
        "ordinaut_processes_up", "Registered processes beating, by kind.", labels=["kind"]
    )
    running = GaugeMetricFamily(
        "ordinaut_worker_running", "Pipelines running now, per worker.", labels=["worker_id"]
    )
    processed = CounterMetricFamily(
        "ordinaut_worker_processed",
        "Runs a worker has finished since it started.",
        labels=["worker_id"],
    )
    alive = [p for p in processes if now - p.last_seen_at <= stale_after]
    for kind in ProcessKind:
        up.add_metric([kind.value], sum(1 for p in alive if p.kind == kind))
    for p in alive:
        if p.kind == ProcessKind.WORKER:
            running.add_metric([p.id], p.running)
            processed.add_metric([p.id], p.processed)
    return [up, running, processed]
