"""The public face of schedule math: validate a schedule, and list its next occurrences.

Pure: no I/O and no clock; the caller passes `after` (and the task's anchor `dtstart`).
Every kind yields naive wall times in the task's zone, and `zones` alone turns them into
instants under the task's DST policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import jmespath
from jmespath.exceptions import JMESPathError

from ordinaut.core.errors import ScheduleError
from ordinaut.core.states import DstGap, DstOverlap, ScheduleKind
from ordinaut.scheduling.cron import cron_walls, parse_cron
from ordinaut.scheduling.once import parse_once
from ordinaut.scheduling.rrule import check_satisfiable, compile_recurrence, recurrence_walls
from ordinaut.scheduling.rrule_parts import parse_recurrence
from ordinaut.scheduling.zones import (
    Occurrence,
    collect_occurrences,
    load_zone,
    to_wall,
    wall_start,
)

__all__ = [
    "Occurrence",
    "ScheduleSpec",
    "anchor_dtstart",
    "is_finite",
    "next_occurrence",
    "next_occurrences",
    "validate_schedule",
]

MAX_TOPIC_LENGTH = 200


@dataclass(frozen=True)
class ScheduleSpec:
    """Everything needed to compute a task's occurrences.

    `dtstart` anchors an RRULE without its own DTSTART: the task's creation time with seconds
    zeroed (see `anchor_dtstart`), so the series never moves with the time of a query.
    """

    kind: ScheduleKind
    expr: str
    timezone: str
    dtstart: datetime
    dst_gap: DstGap = DstGap.SHIFT
    dst_overlap: DstOverlap = DstOverlap.FIRST


def anchor_dtstart(created_at: datetime) -> datetime:
    """The stable anchor of a task's series: its creation time with seconds zeroed."""
    _require_aware("created_at", created_at)
    return created_at.replace(second=0, microsecond=0)


def _validate_topic(expr: str) -> None:
    if not expr:
        raise ScheduleError("event topic must not be empty")
    if len(expr) > MAX_TOPIC_LENGTH:
        raise ScheduleError(f"event topic is {len(expr)} characters; at most {MAX_TOPIC_LENGTH}")
    if any(ch.isspace() for ch in expr):
        raise ScheduleError(f"event topic {expr!r} must not contain whitespace")


def _validate_condition(expr: str) -> None:
    try:
        jmespath.compile(expr)
    except JMESPathError as error:
        detail = " ".join(str(error).split())
        raise ScheduleError(f"condition is not a valid JMESPath expression: {detail}") from None


def validate_schedule(kind: ScheduleKind | str, expr: str, timezone: str) -> None:
    """Raise ScheduleError (naming `schedule_expr`, `timezone` or `schedule_kind`) if invalid."""
    load_zone(timezone)
    try:
        kind = ScheduleKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in ScheduleKind)
        raise ScheduleError(f"unknown schedule kind {kind!r} ({known})", "schedule_kind") from None
    if kind is ScheduleKind.CRON:
        parse_cron(expr)
    elif kind is ScheduleKind.RRULE:
        parse_recurrence(expr)
        check_satisfiable(expr, timezone)
    elif kind is ScheduleKind.ONCE:
        parse_once(expr)
    elif kind is ScheduleKind.EVENT:
        _validate_topic(expr)
    else:
        _validate_condition(expr)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def _walls(spec: ScheduleSpec, after: datetime) -> Iterable[datetime]:
    """The kind's naive wall times, from a little before `after` (the zones module filters)."""
    zone = load_zone(spec.timezone)
    if spec.kind is ScheduleKind.CRON:
        return cron_walls(parse_cron(spec.expr), wall_start(after, zone))
    if spec.kind is ScheduleKind.RRULE:
        _require_aware("spec.dtstart", spec.dtstart)
        compiled = compile_recurrence(spec.expr, spec.timezone, to_wall(spec.dtstart, zone))
        return recurrence_walls(compiled, wall_start(after, zone))
    if spec.kind is ScheduleKind.ONCE:
        moment = parse_once(spec.expr)
        return [moment if moment.tzinfo is None else to_wall(moment.astimezone(UTC), zone)]
    return []  # event and condition tasks run when something is published, not by the clock


def next_occurrences(spec: ScheduleSpec, after: datetime, count: int) -> list[Occurrence]:
    """Up to `count` occurrences strictly after the aware `after`, strictly increasing.

    Empty for event and condition kinds, for an exhausted series, and for a `once` at or
    before `after`. Raises ScheduleError for an invalid spec.
    """
    _require_aware("after", after)
    if count <= 0:
        return []
    zone = load_zone(spec.timezone)
    if spec.kind is ScheduleKind.ONCE and parse_once(spec.expr).tzinfo is not None:
        instant = parse_once(spec.expr).astimezone(UTC)
        return [Occurrence(instant, instant.astimezone(zone))] if instant > after else []
    walls = _walls(spec, after)
    return collect_occurrences(walls, zone, spec.dst_gap, spec.dst_overlap, after, count)


def next_occurrence(spec: ScheduleSpec, after: datetime) -> Occurrence | None:
    """The first occurrence strictly after `after`, or None when there is none."""
    found = next_occurrences(spec, after, 1)
    return found[0] if found else None


def is_finite(spec: ScheduleSpec) -> bool:
    """True when the series ends by itself (a once, or RRULEs that all have COUNT or UNTIL)."""
    if spec.kind is ScheduleKind.ONCE:
        return True
    if spec.kind is ScheduleKind.RRULE:
        zone = load_zone(spec.timezone)
        return compile_recurrence(spec.expr, spec.timezone, to_wall(spec.dtstart, zone)).finite
    return False
