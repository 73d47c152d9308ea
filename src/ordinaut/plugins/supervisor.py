"""Supervised background work for one extension: periodic and long-running coroutines.

A coroutine that raises is restarted after an exponential backoff, forever: a flaky
dependency must not need an operator to come back. The last crash stays visible (the
extension's status shows it) until the coroutine runs well again. `stop` cancels everything
and waits, so shutdown leaves no task behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from structlog.typing import FilteringBoundLogger

Job = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """Delay before restart number n (1-based): initial * factor**(n-1), capped at maximum."""

    initial: float = 0.5
    maximum: float = 60.0
    factor: float = 2.0
    healthy_after: float = 30.0  # a long-running job up this long resets its crash count

    def delay(self, failures: int) -> float:
        return float(min(self.maximum, self.initial * self.factor ** max(failures - 1, 0)))


class JobState(StrEnum):
    RUNNING = "running"  # left when the job crashes, returns or is stopped
    BACKOFF = "backoff"  # waiting to restart after a crash
    FINISHED = "finished"  # a long-running job returned normally: not restarted
    STOPPED = "stopped"  # final: the supervisor was stopped


@dataclass(frozen=True)
class JobInfo:
    name: str
    kind: str  # "periodic" | "long_running"
    state: JobState
    crashes: int
    last_error: str | None


@dataclass
class _Job:
    name: str
    kind: str
    state: JobState = JobState.RUNNING
    crashes: int = 0  # consecutive; reset by a good run
    last_error: str | None = None
    running_since: float = 0.0
    task: asyncio.Task[None] | None = None

    def info(self) -> JobInfo:
        return JobInfo(self.name, self.kind, self.state, self.crashes, self.last_error)


class BackgroundSupervisor:
    """Runs and restarts the background jobs of one extension."""

    def __init__(
        self,
        owner: str,
        logger: FilteringBoundLogger,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._owner = owner
        self._log = logger
        self._backoff = backoff or Backoff()
        self._monotonic = monotonic
        self._sleep = sleep
        self._jobs: dict[str, _Job] = {}
        self._stopped = False

    def run(self, name: str, job: Job) -> None:
        """Start a long-running coroutine; restarted if it raises, left alone if it returns."""
        self._start(_Job(name, "long_running"), lambda state: self._keep_running(state, job))

    def periodic(self, name: str, interval: float, job: Job, *, run_first: bool = True) -> None:
        """Call `job` every `interval` seconds (after it finishes); a crash delays by backoff."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._start(
            _Job(name, "periodic"), lambda state: self._every(state, interval, job, run_first)
        )

    def _start(self, state: _Job, body: Callable[[_Job], Coroutine[Any, Any, None]]) -> None:
        if self._stopped:
            raise RuntimeError(f"background supervisor of {self._owner!r} is stopped")
        if state.name in self._jobs:
            raise ValueError(f"background job {state.name!r} already exists")
        self._jobs[state.name] = state
        state.task = asyncio.create_task(body(state), name=f"ext:{self._owner}:{state.name}")

    async def _keep_running(self, state: _Job, job: Job) -> None:
        while True:
            state.state, state.running_since = JobState.RUNNING, self._monotonic()
            try:
                await job()
            except Exception as exc:
                if self._healthy(state):
                    state.crashes = 0
                await self._crashed(state, exc)
                continue
            state.state, state.crashes, state.last_error = JobState.FINISHED, 0, None
            return

    async def _every(self, state: _Job, interval: float, job: Job, run_first: bool) -> None:
        if not run_first:
            await self._sleep(interval)
        while True:
            state.state = JobState.RUNNING
            try:
                await job()
            except Exception as exc:
                await self._crashed(state, exc)
                continue
            state.crashes, state.last_error = 0, None
            await self._sleep(interval)

    async def _crashed(self, state: _Job, exc: Exception) -> None:
        state.crashes += 1
        state.last_error = f"{type(exc).__name__}: {exc}"
        state.state = JobState.BACKOFF
        delay = self._backoff.delay(state.crashes)
        self._log.warning(
            "extension background job crashed",
            job=state.name,
            crashes=state.crashes,
            restart_in=delay,
            error=state.last_error,
        )
        await self._sleep(delay)

    def jobs(self) -> list[JobInfo]:
        return [state.info() for state in self._jobs.values()]

    def _healthy(self, state: _Job) -> bool:
        """A long-running job counts as recovered once up for `healthy_after` seconds."""
        up_for = self._monotonic() - state.running_since
        return state.state is JobState.RUNNING and up_for >= self._backoff.healthy_after

    def failing(self) -> JobInfo | None:
        """The first job whose latest run crashed and has not run well since, if any."""
        for state in self._jobs.values():
            if state.last_error is not None and not (
                state.kind == "long_running" and self._healthy(state)
            ):
                return state.info()
        return None

    async def stop(self, timeout: float = 5.0) -> None:
        """Cancel every job and wait up to `timeout` seconds for them to end."""
        self._stopped = True
        tasks = [s.task for s in self._jobs.values() if s.task is not None and not s.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                self._log.error(
                    "extension background job ignored cancellation", job=task.get_name()
                )
            for task in done:
                _consume_result(task)
        for state in self._jobs.values():
            if state.state is not JobState.FINISHED:
                state.state = JobState.STOPPED


def _consume_result(task: asyncio.Task[Any]) -> None:
    """Read a finished task's outcome so asyncio does not warn about it."""
    if not task.cancelled():
        task.exception()
