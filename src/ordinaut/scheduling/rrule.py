"""RFC 5545 recurrence: checked here part by part, iterated by dateutil in naive wall time.

A schedule is a bare rule (`FREQ=DAILY;BYHOUR=9`) or iCalendar lines: `RRULE:`, optional
`DTSTART` (`;TZID=Zone:`, `...Z` or floating), `EXDATE` and `RDATE`. The series runs in the
task zone's wall time from its DTSTART, never from the time of a query. To keep a query cheap
on a long series, the rule is restarted at the start of a period shortly before the query
(phase kept, dtstart-derived defaults made explicit), and a COUNT is turned into the UNTIL of
its last occurrence once, when the rule is compiled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil import rrule as du

from ordinaut.core.errors import ScheduleError
from ordinaut.scheduling.rrule_parts import DateValue, RuleParts, parse_recurrence
from ordinaut.scheduling.zones import load_zone, to_wall

HORIZON_YEARS = 100  # a query looks this far past its start; a rule quieter than that is over
_DAY_END = time(23, 59, 59)


@dataclass(frozen=True)
class CompiledRule:
    """One RRULE in wall time, with every default dateutil would take from DTSTART explicit."""

    parts: RuleParts
    dtstart: datetime
    until: datetime | None


@dataclass(frozen=True)
class CompiledRecurrence:
    rules: tuple[CompiledRule, ...]
    rdates: tuple[datetime, ...]
    exdates: tuple[datetime, ...]
    dtstart: datetime
    finite: bool


def naive(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A naive wall time (the only place this module builds one from numbers)."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC).replace(tzinfo=None)


def _wall(value: DateValue, zone: ZoneInfo, date_time: time) -> datetime:
    """A parsed date value as a wall time in the task's zone."""
    wall = datetime.combine(value.wall.date(), date_time) if value.date_only else value.wall
    if value.utc:
        return to_wall(wall.replace(tzinfo=UTC), zone)
    if value.tzid is not None and value.tzid != zone.key:
        return to_wall(wall.replace(tzinfo=load_zone(value.tzid)), zone)
    return wall


def _explicit(parts: RuleParts, start: datetime) -> RuleParts:
    """The parts with dateutil's DTSTART-derived defaults spelled out, so DTSTART can move."""
    changes: dict[str, object] = {"wkst": 0 if parts.wkst is None else parts.wkst}
    no_day = all(
        x is None for x in (parts.byweekno, parts.byyearday, parts.bymonthday, parts.byweekday)
    )
    if no_day and parts.freq == du.YEARLY:
        changes |= {"bymonth": parts.bymonth or (start.month,), "bymonthday": (start.day,)}
    elif no_day and parts.freq == du.MONTHLY:
        changes["bymonthday"] = (start.day,)
    elif no_day and parts.freq == du.WEEKLY:
        changes["byweekday"] = ((start.weekday(), None),)
    for name, coarser_than, value in (
        ("byhour", du.HOURLY, start.hour),
        ("byminute", du.MINUTELY, start.minute),
        ("bysecond", du.SECONDLY, start.second),
    ):
        if getattr(parts, name) is None and parts.freq < coarser_than:
            changes[name] = (value,)
    return replace(parts, **changes)  # type: ignore[arg-type]


def _build(
    rule: CompiledRule, dtstart: datetime, until: datetime | None, count: int | None = None
) -> du.rrule:
    p = rule.parts
    weekdays = None if p.byweekday is None else [du.weekday(d, n) for d, n in p.byweekday]
    return du.rrule(
        p.freq,
        dtstart=dtstart,
        interval=p.interval,
        count=count,
        wkst=p.wkst,
        until=until,
        bysetpos=p.bysetpos,
        bymonth=p.bymonth,
        bymonthday=p.bymonthday,
        byyearday=p.byyearday,
        byweekno=p.byweekno,
        byweekday=weekdays,
        byhour=p.byhour,
        byminute=p.byminute,
        bysecond=p.bysecond,
    )


def _compile_rule(parts: RuleParts, dtstart: datetime, zone: ZoneInfo) -> CompiledRule | None:
    until = None if parts.until is None else _wall(parts.until, zone, _DAY_END)
    rule = CompiledRule(_explicit(parts, dtstart), dtstart, until)
    try:
        built = _build(rule, dtstart, until, parts.count)
        if parts.count is None:
            return rule
        last = deque(built, maxlen=1)
    except ValueError as error:
        raise ScheduleError(f"RRULE cannot be evaluated: {error}") from None
    # A COUNT becomes the UNTIL of its last occurrence: the same series, but one a query can
    # start in the middle of.
    return CompiledRule(rule.parts, dtstart, last[0]) if last else None


@lru_cache(maxsize=1024)
def compile_recurrence(expr: str, zone_name: str, default_dtstart: datetime) -> CompiledRecurrence:
    """Parse `expr` and anchor it: at its own DTSTART, else the naive wall `default_dtstart`."""
    zone = load_zone(zone_name)
    parsed = parse_recurrence(expr)
    dtstart = default_dtstart
    if parsed.dtstart is not None:
        dtstart = _wall(parsed.dtstart, zone, time(0, 0))
    at = dtstart.time()
    compiled = [_compile_rule(parts, dtstart, zone) for parts in parsed.rules]
    return CompiledRecurrence(
        rules=tuple(rule for rule in compiled if rule is not None),
        rdates=tuple(sorted(_wall(value, zone, at) for value in parsed.rdates)),
        exdates=tuple(_wall(value, zone, at) for value in parsed.exdates),
        dtstart=dtstart,
        finite=all(p.count is not None or p.until is not None for p in parsed.rules),
    )


def _period_start(rule: CompiledRule, target: datetime) -> datetime:
    """The latest period start at or before `target` whose phase matches the rule's INTERVAL."""
    p, d, n = rule.parts, rule.dtstart, rule.parts.interval
    if p.freq == du.YEARLY:
        return naive(d.year + (target.year - 1 - d.year) // n * n, 1, 1)
    if p.freq == du.MONTHLY:
        first, last = d.year * 12 + d.month - 1, target.year * 12 + target.month - 2
        month = first + (last - first) // n * n
        return naive(month // 12, month % 12 + 1, 1)
    if p.freq in (du.WEEKLY, du.DAILY):
        step = 7 if p.freq == du.WEEKLY else 1
        lead = (d.weekday() - (p.wkst or 0)) % 7 if p.freq == du.WEEKLY else 0
        base = naive(d.year, d.month, d.day) - timedelta(days=lead)
        periods = (target - base).days // step - 1
        return base + timedelta(days=periods // n * n * step)
    unit = {du.HOURLY: 3600, du.MINUTELY: 60, du.SECONDLY: 1}[p.freq]
    base = d - timedelta(seconds=(d.minute * 60 + d.second) % unit)
    periods = int((target - base).total_seconds()) // unit - 1
    return base + timedelta(seconds=periods // n * n * unit)


def _rule_after(rule: CompiledRule, start: datetime) -> du.rrule:
    year = min(start.year + HORIZON_YEARS + 1, 9999)
    until = naive(year, 1, 1) if rule.until is None else min(rule.until, naive(year, 1, 1))
    dtstart = rule.dtstart
    if start > dtstart:  # restart near the query rather than iterate from DTSTART
        dtstart = max(dtstart, _period_start(rule, start))
    return _build(rule, dtstart, until)


def recurrence_walls(compiled: CompiledRecurrence, start: datetime) -> Iterator[datetime]:
    """The series' naive wall times strictly after the naive wall time `start`, ascending."""
    rset = du.rruleset()
    for rule in compiled.rules:
        if rule.until is None or rule.until > start:
            rset.rrule(_rule_after(rule, start))
    for rdate in compiled.rdates:
        if rdate > start:
            rset.rdate(rdate)
    for exdate in compiled.exdates:
        if exdate > start:
            rset.exdate(exdate)
    for wall in rset:
        if wall > start:
            yield wall


def check_satisfiable(expr: str, zone_name: str) -> None:
    """Refuse a rule that never matches a date (BYMONTH=2;BYMONTHDAY=30), within the horizon.

    Without a DTSTART in `expr` the rule is tried from 2000-01-01 00:00, whose day and time
    never make a rule impossible on their own.
    """
    compiled = compile_recurrence(expr, zone_name, naive(2000, 1, 1))
    start = compiled.dtstart
    horizon = naive(min(start.year + HORIZON_YEARS, 9999), 12, 31)
    for parts in parse_recurrence(expr).rules:
        rule = CompiledRule(_explicit(parts, start), start, None)
        if _build(rule, start, horizon).after(start, inc=True) is None:
            msg = f"RRULE never matches a date within {HORIZON_YEARS} years of its DTSTART"
            raise ScheduleError(msg)
