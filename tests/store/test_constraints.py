"""The constraints that carry the guarantees refuse bad rows on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ordinaut.core.clock import FrozenClock
from ordinaut.services.agents import create_agent
from ordinaut.store.engine import Store
from ordinaut.store.schema import due_work, task

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def _task(store: Store) -> str:
    async with store.transaction() as conn:
        issued = await create_agent(conn, name="a", scopes=["tasks:write"], clock=FrozenClock(NOW))
        await conn.execute(
            task.insert().values(
                id="t1",
                title="t",
                created_by=issued.agent.id,
                schedule_kind="cron",
                schedule_expr="* * * * *",
                timezone="UTC",
                dtstart=NOW,
                payload={"pipeline": []},
                status="active",
                backoff_strategy="fixed",
                dst_gap="shift",
                dst_overlap="first",
                catchup="latest",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return "t1"


def _work(owner: str, work_id: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": work_id,
        "task_id": owner,
        "scheduled_for": NOW,
        "run_at": NOW,
        "state": "scheduled",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return row | overrides


async def test_one_due_work_per_task_and_occurrence(store: Store) -> None:
    task_id = await _task(store)
    async with store.transaction() as conn:
        await conn.execute(due_work.insert().values(_work(task_id, "w1")))
    with pytest.raises(IntegrityError):
        async with store.transaction() as conn:
            await conn.execute(due_work.insert().values(_work(task_id, "w2")))
    async with store.transaction() as conn:
        later = NOW + timedelta(minutes=1)
        await conn.execute(due_work.insert().values(_work(task_id, "w3", scheduled_for=later)))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"state": "bogus"}, id="unknown_state"),
        pytest.param({"priority": 0}, id="priority_below_range"),
        pytest.param({"state": "running"}, id="running_without_lease"),
        pytest.param({"task_id": "missing"}, id="dangling_task"),
    ],
)
async def test_bad_due_work_rows_are_refused(store: Store, overrides: dict[str, object]) -> None:
    task_id = await _task(store)
    with pytest.raises(IntegrityError):
        async with store.transaction() as conn:
            await conn.execute(due_work.insert().values(_work(task_id, "w1", **overrides)))


async def test_instants_round_trip_as_aware_utc(store: Store) -> None:
    task_id = await _task(store)
    async with store.connect() as conn:
        value = await conn.execute(sa.select(task.c.dtstart).where(task.c.id == task_id))
        dtstart = value.scalar_one()
    assert dtstart == NOW
    assert dtstart.tzinfo is not None
