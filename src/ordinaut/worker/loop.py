"""The worker: claims due occurrences in batches, runs them in N slots, writes results.

Three background coroutines share one asyncio process: the claimer (claims while slots are
free, otherwise sleeps until woken, polled, or the next `run_at`), the finisher (writes every
result that is ready in one transaction) and the heartbeat (renews leases, refreshes the
registry row, recovers occurrences whose worker vanished).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from datetime import timedelta

import structlog

from ordinaut import __version__
from ordinaut.core.clock import Clock
from ordinaut.core.settings import Settings
from ordinaut.core.signals import LocalSignal, WakeSignal
from ordinaut.core.states import ProcessKind
from ordinaut.store.bulk import event_get_many
from ordinaut.store.engine import Store
from ordinaut.store.notify import WORK_AVAILABLE, NotifyListener
from ordinaut.store.queue import (
    Attempt,
    due_work_claim,
    due_work_extend_leases,
    due_work_next_run_at,
    due_work_release,
)
from ordinaut.store.workers import (
    WorkerInfo,
    worker_deregister,
    worker_heartbeat,
    worker_prune_stale,
    worker_register,
)
from ordinaut.worker.backoff import Random
from ordinaut.worker.finish import Claimed, Finished, RetryPolicy, finish_attempts, recover_expired
from ordinaut.worker.lanes import Lane
from ordinaut.worker.runner import PipelineRunner, RunOutcome

logger = logging.getLogger(__name__)

RELEASED_REASON = "released at shutdown"
STORE_RETRY_SECONDS = 1.0
STALE_WORKER_SECONDS = 120.0
# Session settings of the worker's lanes. Claims and finishes are planned for their actual
# parameters (a generic plan cannot see that `run_at <= :now` or `id = ANY(:ids)` picks few
# rows, and scans the table). No bitmap scans: with statistics that lag a burst of enqueues
# the planner bitmap-scans every due row and sorts them (15 ms for 20k due rows) instead of
# walking ix_due_work_claim in order and stopping at the batch size (0.3 ms). Instants come
# back in UTC, so the claim's rows need no conversion.
LANE_SETUP = [
    "SET plan_cache_mode = force_custom_plan",
    "SET enable_bitmapscan = off",
    "SET TIME ZONE 'UTC'",
]


def default_worker_id() -> str:
    return f"{socket.gethostname()[:60]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """One worker process's engine. Build several side by side in tests; nothing is global."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        runner: PipelineRunner,
        *,
        worker_id: str | None = None,
        wakeup: WakeSignal | None = None,
        random_source: Random | None = None,
    ) -> None:
        self.id = worker_id or default_worker_id()
        self.settings = settings
        self.store = store
        self.clock = clock
        self.runner = runner
        self.policy = RetryPolicy(settings.worker_backoff_max_delay, random_source or random.random)
        self.processed = 0
        self._lease = timedelta(seconds=settings.worker_lease_seconds)
        self._listener: NotifyListener | None = None
        self._wakeup = wakeup
        self._inflight: dict[Attempt, Claimed] = {}
        self._pipelines: dict[Attempt, asyncio.Task[None]] = {}
        self._done: asyncio.Queue[Finished | None] = asyncio.Queue()
        self._slot_freed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stopping = False
        self._claimer: asyncio.Task[None] | None = None
        self._finisher: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        # claims may commit asynchronously: a claim lost in a database crash only puts the
        # occurrence back unclaimed; every finish commits durably (and flushes claims with it).
        # Lanes are opened by start(); before that (run_once) the Store's pool serves.
        self._claim_lane = Lane(store, [*LANE_SETUP, "SET synchronous_commit = off"], enabled=False)
        self._finish_lane = Lane(store, LANE_SETUP, enabled=False)

    @property
    def running(self) -> int:
        return len(self._inflight)

    # ------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Register, start listening for wake-ups, and start claiming."""
        if self._wakeup is None:
            if self.store.is_postgres:
                self._listener = NotifyListener(self.store.url, [WORK_AVAILABLE])
                await self._listener.start()
                self._wakeup = self._listener.signal(WORK_AVAILABLE)
            else:
                self._wakeup = LocalSignal()
        await self._register()
        self._claim_lane.enabled = self._finish_lane.enabled = True
        self._finisher = asyncio.create_task(self._finish_loop(), name=f"{self.id}-finish")
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"{self.id}-beat")
        self._claimer = asyncio.create_task(self._claim_loop(), name=f"{self.id}-claim")
        logger.info("worker %s started (%d slots)", self.id, self.settings.worker_concurrency)

    def request_stop(self) -> None:
        """For signal handlers: `run_until_stopped` then shuts down gracefully."""
        self._stop_requested.set()

    async def run_until_stopped(self) -> None:
        await self.start()
        await self._stop_requested.wait()
        await self.stop()

    async def stop(self) -> None:
        """Stop claiming; let pipelines finish within WORKER_SHUTDOWN_TIMEOUT; release the rest."""
        if self._stopping:
            return
        self._stopping = True
        self._stop_requested.set()
        self._slot_freed.set()
        if self._wakeup is not None:
            self._wakeup.set()
        if self._claimer is not None:
            await self._claimer
        await self._drain_pipelines(self.settings.worker_shutdown_timeout)
        self._done.put_nowait(None)
        if self._finisher is not None:
            await self._finisher
        await self._release_unfinished()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await self._deregister()
        await self._claim_lane.close()
        await self._finish_lane.close()
        if self._listener is not None:
            await self._listener.stop()
        logger.info("worker %s stopped after %d runs", self.id, self.processed)

    async def _drain_pipelines(self, timeout: float) -> None:
        pending = [t for t in self._pipelines.values() if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _release_unfinished(self) -> None:
        if not self._inflight:
            return
        attempts = list(self._inflight)
        async with self.store.transaction() as conn:
            released = await due_work_release(
                conn,
                worker_id=self.id,
                attempts=attempts,
                now=self.clock.now(),
                reason=RELEASED_REASON,
            )
        logger.info("worker %s released %d unfinished occurrences", self.id, len(released))
        self._inflight.clear()

    # -------------------------------------------------------------------------- claiming

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._slot_freed.clear()
            free = self.settings.worker_concurrency - len(self._inflight)
            if free <= 0:
                await self._slot_freed.wait()
                continue
            try:
                claimed = await self.claim(min(free, self.settings.worker_batch_size))
            except Exception:
                logger.exception("claim failed; retrying in %.1fs", STORE_RETRY_SECONDS)
                await asyncio.sleep(STORE_RETRY_SECONDS)
                continue
            if claimed:
                self._dispatch(claimed)
                await asyncio.sleep(0)  # the pipelines start before this loop's next statement
            else:
                await self._idle()

    async def claim(self, limit: int) -> list[Claimed]:
        """Claim up to `limit` occurrences (with their run.started events): on PostgreSQL one
        statement, committing by itself."""
        now = self.clock.now()
        async with self._claim_lane.use() as conn:
            rows = await due_work_claim(
                conn, worker_id=self.id, now=now, lease_until=now + self._lease, limit=limit
            )
            event_ids = [r.work.event_id for r in rows if r.work.event_id]
            events = await event_get_many(conn, event_ids) if event_ids else {}
        claimed = [
            Claimed(r.work, r.task, events.get(r.work.event_id or ""), r.run_id) for r in rows
        ]
        for c in claimed:
            self._inflight[c.key] = c
        return claimed

    def _dispatch(self, claimed: list[Claimed]) -> None:
        for c in claimed:
            self._pipelines[c.key] = asyncio.create_task(self._run_one(c))

    async def _idle(self) -> None:
        """Sleep until woken, the poll interval passes, or the earliest future run_at comes."""
        timeout = self.settings.worker_poll_interval
        now = self.clock.now()
        with contextlib.suppress(Exception):
            async with self._claim_lane.use() as conn:
                upcoming = await due_work_next_run_at(conn, now=now)
            if upcoming is not None:
                timeout = min(timeout, max((upcoming - now).total_seconds(), 0.001))
        assert self._wakeup is not None
        await self._wakeup.wait(timeout)

    # -------------------------------------------------------------------------- running

    async def execute(self, c: Claimed) -> Finished:
        """Run one attempt's pipeline; a runner that raises is a retryable failure."""
        started_at = self.clock.now()
        began = time.perf_counter()
        # every log line of the pipeline (tools included) names its task, run and worker
        with structlog.contextvars.bound_contextvars(
            task_id=c.task.id, run_id=c.run_id, worker_id=self.id
        ):
            try:
                outcome = await self.runner(c.task, c.work, c.run_id, c.event)
            except Exception as exc:
                logger.exception("runner raised for %s attempt %d", *c.key)
                outcome = RunOutcome(False, None, f"{type(exc).__name__}: {exc}", True)
        duration_ms = (time.perf_counter() - began) * 1000
        return Finished(c, outcome, started_at, self.clock.now(), duration_ms)

    async def _run_one(self, c: Claimed) -> None:
        self._done.put_nowait(await self.execute(c))

    # ------------------------------------------------------------------------- finishing

    async def _finish_loop(self) -> None:
        closing = False
        while not closing:
            first = await self._done.get()
            batch = [first] if first is not None else []
            while not self._done.empty() and len(batch) < 1000:
                item = self._done.get_nowait()
                if item is None:
                    closing = True
                else:
                    batch.append(item)
            closing = closing or first is None
            if batch:
                await self.finish(batch)

    async def finish(self, batch: list[Finished]) -> None:
        """Write a batch of results (retrying while the store is unreachable), free the slots."""
        for delay in (0.1, 0.5, 1.0, 2.0, 5.0, None):
            try:
                async with self._finish_lane.use() as conn:
                    await finish_attempts(
                        conn,
                        worker_id=self.id,
                        batch=batch,
                        policy=self.policy,
                        now=self.clock.now(),
                    )
                break
            except Exception:
                if delay is None:
                    logger.exception("could not write %d results; leases will expire", len(batch))
                    break
                logger.warning("writing results failed; retrying in %.1fs", delay, exc_info=True)
                await asyncio.sleep(delay)
        for f in batch:
            self._inflight.pop(f.claimed.key, None)
            self._pipelines.pop(f.claimed.key, None)
        self.processed += len(batch)
        self._slot_freed.set()

    async def run_once(self) -> int:
        """Claim one batch, run it to the end, write the results: for tests and tools."""
        claimed = await self.claim(
            min(self.settings.worker_concurrency, self.settings.worker_batch_size)
        )
        if claimed:
            await self.finish(list(await asyncio.gather(*(self.execute(c) for c in claimed))))
        return len(claimed)

    # ------------------------------------------------------------------ heartbeat, registry

    async def _heartbeat_loop(self) -> None:
        interval = min(max(self.settings.worker_lease_seconds / 3, 0.05), 10.0)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat()
                await self.sweep()
            except Exception:
                logger.exception("heartbeat failed")

    async def heartbeat(self) -> None:
        """Renew the leases of everything still held and refresh the registry row."""
        now = self.clock.now()
        held = list(self._inflight)
        async with self.store.transaction() as conn:
            renewed = await due_work_extend_leases(
                conn, worker_id=self.id, attempts=held, until=now + self._lease
            )
            present = await worker_heartbeat(
                conn, self.id, now=now, running=len(self._inflight), processed=self.processed
            )
        for key in set(held) - renewed:
            if key in self._pipelines and not self._pipelines[key].done():
                logger.warning("lease lost on %s attempt %d; its result will be dropped", *key)
        if not present and not self._stopping:
            await self._register()

    async def sweep(self) -> int:
        """Recover occurrences whose lease expired; forget workers that stopped beating."""
        now = self.clock.now()
        async with self.store.transaction() as conn:
            recovered = await recover_expired(conn, policy=self.policy, now=now)
            await worker_prune_stale(
                conn, seen_before=now - timedelta(seconds=STALE_WORKER_SECONDS)
            )
        if recovered and self._wakeup is not None:
            self._wakeup.set()
        return recovered

    async def _register(self) -> None:
        now = self.clock.now()
        info = WorkerInfo(
            id=self.id,
            kind=ProcessKind.WORKER.value,
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            version=__version__[:32],
            started_at=now,
            last_seen_at=now,
            running=len(self._inflight),
            processed=self.processed,
            info={"concurrency": self.settings.worker_concurrency},
        )
        async with self.store.transaction() as conn:
            await worker_register(conn, info)

    async def _deregister(self) -> None:
        with contextlib.suppress(Exception):
            async with self.store.transaction() as conn:
                await worker_deregister(conn, self.id)
