"""Which due occurrences of a task run and which are recorded missed (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from ordinaut.core.states import Catchup, ScheduleKind
from ordinaut.scheduling.spec import ScheduleSpec, next_occurrence

_ANY_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
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
    horizon: datetime | None = None,
) -> FirePlan:
    """Split the occurrences from `next_run_at` up to `horizon` (default `now`) into those to
    run and those missed.

    An occurrence found more than `grace_seconds` late (against the real `now`, so one enqueued
    ahead of its instant is never late) is a misfire, handled by `catchup`: `latest` runs the
    newest misfire once (unless an occurrence already due, within grace, runs anyway: one merely
    ahead does not count), `all` runs each, `none` runs none. `next_run_at` of the plan is the
    first occurrence after the horizon.
    """
    due, following = _due_occurrences(spec, next_run_at, max(now, horizon or now))
    grace = timedelta(seconds=grace_seconds)
    late = [t for t in due if now - t > grace]
    on_time = [t for t in due if now - t <= grace]
    if catchup is Catchup.ALL:
        chosen = late
    elif catchup is Catchup.LATEST and late and not [t for t in on_time if t <= now]:
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
    spec: ScheduleSpec, first: datetime, until: datetime
) -> tuple[list[datetime], datetime | None]:
    """Occurrences in [first, until] (bounded) and the first one after `until`."""
    due = [first]
    if spec.kind is ScheduleKind.ONCE:
        return due, None
    if spec.kind is not ScheduleKind.RRULE:
        spec = replace(spec, dtstart=_ANY_ANCHOR)  # only an RRULE series hangs on its anchor
    cursor = first
    while len(due) < MAX_DUE_SCAN:
        occurrence = next_instant(spec, cursor)
        if occurrence is None or occurrence > until:
            return due, occurrence
        due.append(occurrence)
        cursor = occurrence
    # a long outage: skip straight to the future rather than walk every missed occurrence
    return due, next_instant(spec, until)


@lru_cache(maxsize=8192)
def next_instant(spec: ScheduleSpec, after: datetime) -> datetime | None:
    """`next_occurrence(spec, after).instant`, remembered: tasks falling due together mostly
    share a schedule (`0 9 * * *` in one zone), so a burst of them computes it once."""
    occurrence = next_occurrence(spec, after)
    return occurrence.instant if occurrence else None
