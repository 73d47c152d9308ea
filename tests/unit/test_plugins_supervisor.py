"""Background supervision: crashes restart with backoff and show; stop leaves nothing behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import structlog

from ordinaut.plugins import BackgroundSupervisor, Backoff, JobState

FAST = Backoff(initial=0.01, maximum=0.04, healthy_after=0.2)


async def wait_until(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


@pytest.fixture
async def supervisor() -> AsyncIterator[BackgroundSupervisor]:
    made = BackgroundSupervisor("demo", structlog.get_logger("test"), FAST)
    yield made
    await made.stop()


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (10, 60.0)],
    ids=["first", "second", "third", "capped"],
)
def test_backoff_grows_exponentially_up_to_the_cap(failures: int, delay: float) -> None:
    assert Backoff(initial=0.5, maximum=60.0).delay(failures) == delay


async def test_periodic_job_runs_repeatedly(supervisor: BackgroundSupervisor) -> None:
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)

    supervisor.periodic("tick", 0.01, job)
    await wait_until(lambda: len(runs) >= 3)
    assert supervisor.failing() is None


async def test_crashing_periodic_job_is_retried_shows_its_error_and_recovers(
    supervisor: BackgroundSupervisor,
) -> None:
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) <= 3:
            raise RuntimeError(f"boom {len(calls)}")

    supervisor.periodic("flaky", 0.5, flaky)
    await wait_until(lambda: len(calls) >= 2)
    failing = supervisor.failing()
    assert failing is not None
    assert failing.name == "flaky"
    assert failing.last_error is not None
    assert failing.last_error.startswith("RuntimeError: boom")
    await wait_until(lambda: len(calls) >= 4)
    assert supervisor.failing() is None
    assert supervisor.jobs()[0].crashes == 0


async def test_long_running_job_is_restarted_with_growing_delays() -> None:
    delays: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    supervisor = BackgroundSupervisor(
        "demo", structlog.get_logger("test"), FAST, sleep=recording_sleep
    )
    starts: list[int] = []

    async def worker() -> None:
        starts.append(1)
        if len(starts) < 5:
            raise ValueError("died")
        await asyncio.sleep(3600)

    supervisor.run("worker", worker)
    try:
        await wait_until(lambda: len(starts) == 5)
        assert delays == [0.01, 0.02, 0.04, 0.04], "exponential, capped at the maximum"
        (info,) = supervisor.jobs()
        assert (info.crashes, info.state) == (4, JobState.RUNNING)
        assert supervisor.failing() is not None, "a recent crash stays visible"
        await wait_until(lambda: supervisor.failing() is None)  # up for healthy_after
    finally:
        await supervisor.stop()


async def test_a_job_that_returns_is_not_restarted(supervisor: BackgroundSupervisor) -> None:
    runs: list[int] = []

    async def once() -> None:
        runs.append(1)

    supervisor.run("once", once)
    await wait_until(lambda: supervisor.jobs()[0].state is JobState.FINISHED)
    assert runs == [1]


async def test_stop_cancels_every_job_and_waits(supervisor: BackgroundSupervisor) -> None:
    cleaned: list[str] = []
    started: list[str] = []

    async def forever() -> None:
        started.append("forever")
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append("forever")

    async def tick() -> None:
        return None

    supervisor.run("forever", forever)
    supervisor.periodic("tick", 10, tick)
    await wait_until(lambda: started == ["forever"])
    await supervisor.stop(timeout=2)

    assert cleaned == ["forever"]
    assert {j.state for j in supervisor.jobs()} == {JobState.STOPPED}
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("ext:demo:")] == []
    with pytest.raises(RuntimeError, match="stopped"):
        supervisor.run("late", tick)


async def test_job_names_are_unique(supervisor: BackgroundSupervisor) -> None:
    async def job() -> None:
        await asyncio.sleep(3600)

    supervisor.run("a", job)
    with pytest.raises(ValueError, match="already exists"):
        supervisor.periodic("a", 1, job)
