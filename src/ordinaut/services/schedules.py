"""Schedules seen from a task: validation at the edge, the next run, previews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ordinaut.core.errors import InvalidInput, ScheduleError
from ordinaut.core.models import Task
from ordinaut.core.states import DstGap, DstOverlap, ScheduleKind, TaskStatus
from ordinaut.scheduling import (
    ScheduleSpec,
    anchor_dtstart,
    next_occurrence,
    preview,
    validate_schedule,
)
from ordinaut.scheduling.task_spec import spec_of

_TICK = timedelta(microseconds=1)
TIMED_KINDS = frozenset({ScheduleKind.ONCE, ScheduleKind.CRON, ScheduleKind.RRULE})


def checked_schedule(kind: ScheduleKind, expr: str, timezone: str) -> None:
    """Validate, reporting the field at fault under `body` (422 with `loc`)."""
    try:
        validate_schedule(kind, expr, timezone)
    except ScheduleError:
        raise
    except ValueError as exc:  # a library's own complaint that validation did not translate
        raise ScheduleError(f"{expr!r}: {exc}") from exc


def first_run_at(spec: ScheduleSpec, now: datetime) -> datetime | None:
    """When a new (or rescheduled) task first runs; a past one-shot runs right away.

    A timed schedule with no occurrence at all is refused: a task that is saved can run, and
    so is one whose times fall outside the years 1..9999 once mapped to UTC.
    """
    try:
        return _first_run_at(spec, now)
    except OverflowError:
        raise ScheduleError(
            f"{spec.expr!r} falls outside the supported years (1..9999) in UTC"
        ) from None


def _first_run_at(spec: ScheduleSpec, now: datetime) -> datetime | None:
    if spec.kind not in TIMED_KINDS:
        return None
    if spec.kind is ScheduleKind.ONCE:
        occurrence = next_occurrence(spec, datetime.min.replace(tzinfo=now.tzinfo))
        if occurrence is None:
            raise ScheduleError(
                f"{spec.expr!r} never happens in {spec.timezone} under dst_gap={spec.dst_gap.value}"
            )
        return max(occurrence.instant, now)
    # an RRULE counts from its DTSTART, the creation minute: that first occurrence, a few
    # seconds old, still runs (COUNT=2 means two runs)
    after = spec.dtstart - _TICK if spec.kind is ScheduleKind.RRULE else now
    occurrence = next_occurrence(spec, min(after, now))
    if occurrence is None:
        raise ScheduleError(f"{spec.expr!r} has no occurrence after {now.isoformat()}")
    return occurrence.instant


def preview_schedule(spec: ScheduleSpec, after: datetime, count: int) -> list[dict[str, Any]]:
    """The next `count` occurrences after `after`: {local, utc, offset, note} each."""
    if spec.kind not in TIMED_KINDS:
        raise InvalidInput.at(
            ("body", "schedule_kind"), f"{spec.kind.value} schedules have no times to preview"
        )
    try:
        return list(preview(spec, after, count))
    except OverflowError:  # the series runs past year 9999 (or before year 1) in local time
        raise InvalidInput.at(
            ("body", "after"), "the schedule leaves the supported years (1..9999) there"
        ) from None


def preview_unsaved(
    kind: ScheduleKind,
    expr: str,
    timezone: str,
    *,
    now: datetime,
    after: datetime | None,
    count: int,
    dst_gap: DstGap = DstGap.SHIFT,
    dst_overlap: DstOverlap = DstOverlap.FIRST,
) -> list[dict[str, Any]]:
    """Preview a schedule as if a task with it were created at `after` (default: now), which
    anchors an RRULE without DTSTART: a preview of the past shows the series it would have had.
    """
    checked_schedule(kind, expr, timezone)
    anchor = anchor_dtstart(after or now)
    spec = ScheduleSpec(kind, expr, timezone, anchor, dst_gap, dst_overlap)
    return preview_schedule(spec, after or now, count)


def preview_task(task: Task, now: datetime, count: int) -> list[dict[str, Any]]:
    """A saved task's next occurrences from now; none once it is over or runs on events."""
    finished = task.status in (TaskStatus.CANCELED, TaskStatus.COMPLETED)
    if finished or ScheduleKind(task.schedule_kind) not in TIMED_KINDS:
        return []
    if task.schedule_kind == ScheduleKind.ONCE:  # a one-shot past due still runs once, right away
        return preview_schedule(spec_of(task), datetime.min.replace(tzinfo=UTC), count)[:1]
    return preview_schedule(spec_of(task), now, count)
