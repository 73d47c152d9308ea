"""Which due occurrences of a task run and which are recorded missed (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ordinaut.core.states import Catchup, ScheduleKind
from ordinaut.scheduling.spec import ScheduleSpec, next_occurrence

MAX_DUE_SCAN = 1000
"""Most occurrences looked at in one tick for one task; `catchup: all` runs at most this many."""


@dataclass(frozen=True)
class Missed:
    scheduled_for: datetime
    reason: str


@dataclass(frozen=True)
class FirePlan:
    run: list[datetime] = field(default_factory=list)
    missed: list[Missed] = field(default_factory=list)
    next_run_at: datetime | None = None


def plan_fires(
    spec: ScheduleSpec,
    next_run_at: datetime,
    now: datetime,
    *,
    grace_seconds: int,
    catchup: Catchup,
) -> FirePlan:
    """Split the occurrences from `next_run_at` up to `now` into those to run and those missed.

    An occurrence found more than `grace_seconds` late is a misfire, handled by `catchup`:
    `latest` runs the newest misfire once (unless an on-time occurrence runs anyway), `all`
    runs each, `none` runs none. `next_run_at` of the plan is the first occurrence after `now`.
    """
    due, following = _due_occurrences(spec, next_run_at, now)
    grace = timedelta(seconds=grace_seconds)
    late = [t for t in due if now - t > grace]
    on_time = [t for t in due if now - t <= grace]
    if catchup is Catchup.ALL:
        chosen = late
    elif catchup is Catchup.LATEST and late and not on_time:
        chosen = late[-1:]
    else:
        chosen = []
    missed = [
        Missed(
            t,
            f"misfire: found {(now - t).total_seconds():.0f}s late, beyond the "
            f"{grace_seconds}s grace (catchup={catchup.value})",
        )
        for t in late
        if t not in chosen
    ]
    return FirePlan(run=sorted(chosen + on_time), missed=missed, next_run_at=following)


def _due_occurrences(
    spec: ScheduleSpec, first: datetime, now: datetime
) -> tuple[list[datetime], datetime | None]:
    """Occurrences in [first, now] (bounded) and the first one after `now`."""
    due = [first]
    if spec.kind is ScheduleKind.ONCE:
        return due, None
    cursor = first
    while len(due) < MAX_DUE_SCAN:
        occurrence = next_occurrence(spec, cursor)
        if occurrence is None:
            return due, None
        if occurrence.instant > now:
            return due, occurrence.instant
        due.append(occurrence.instant)
        cursor = occurrence.instant
    # a long outage: skip straight to the future rather than walk every missed occurrence
    following = next_occurrence(spec, now)
    return due, following.instant if following else None
