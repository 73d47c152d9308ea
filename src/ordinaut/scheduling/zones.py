"""Local wall time -> UTC instants under a task's DST policy.

Every schedule kind produces naive wall times in the task's zone; this module alone decides
which instants they mean. A wall time in a spring-forward gap is shifted forward by the gap or
skipped; one in a fall-back overlap runs at its first instant, its last, or both. Shifting and
`both` can produce instants out of wall-time order, so `collect_occurrences` holds such
instants back until no later wall time can precede them, then emits in instant order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ordinaut.core.errors import ScheduleError
from ordinaut.core.states import DstGap, DstOverlap

# Safety net for pathological inputs (a secondly cron skipping a long gap...): a query never
# examines more wall times than this beyond the number of occurrences asked for.
MAX_EXTRA_WALLS = 200_000


@dataclass(frozen=True)
class Occurrence:
    """One run time: `instant` in UTC, `local` the actual local time of it in the task's zone."""

    instant: datetime
    local: datetime
    note: str | None = None


@lru_cache(maxsize=1024)
def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a ScheduleError located on the `timezone` field."""
    if not name or name != name.strip():
        raise ScheduleError(f"time zone {name!r} is not an IANA name", field_name="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        msg = f"unknown time zone {name!r} (use an IANA name such as 'Europe/Chisinau' or 'UTC')"
        raise ScheduleError(msg, field_name="timezone") from None


def to_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall time of an aware instant in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _instant(wall: datetime, zone: ZoneInfo, fold: int) -> datetime:
    return wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)


def _hhmm(wall: datetime) -> str:
    return wall.strftime("%H:%M:%S" if wall.second else "%H:%M")


@dataclass(frozen=True, order=True)
class _Candidate:
    """An instant waiting to be emitted; `release` is the wall time after which it is safe."""

    instant: datetime
    displaced: bool
    release: datetime = field(compare=False)
    note: str | None = field(compare=False)


@dataclass(frozen=True)
class _Mapped:
    candidates: tuple[_Candidate, ...]
    skipped: str | None = None
    skipped_instant: datetime | None = None


def _map_gap(wall: datetime, zone: ZoneInfo, gap: DstGap, size: timedelta) -> _Mapped:
    # fold=0 reads a gap time with the offset in force before the jump: that is the wall
    # time moved forward by the size of the gap.
    shifted = _instant(wall, zone, 0)
    day = wall.date().isoformat()
    if gap is DstGap.SKIP:
        return _Mapped((), f"skipped {day} {_hhmm(wall)} (DST gap)", shifted)
    runs_at = _hhmm(to_wall(shifted, zone))
    note = f"shifted: {_hhmm(wall)} does not exist on {day} (DST gap); runs at {runs_at}"
    return _Mapped((_Candidate(shifted, True, wall + size, note),))


def _map_overlap(wall: datetime, zone: ZoneInfo, overlap: DstOverlap, size: timedelta) -> _Mapped:
    # PEP 495: fold=0 is the earlier of the two moments a repeated wall time names.
    first, last = _instant(wall, zone, 0), _instant(wall, zone, 1)
    head = f"repeated: {_hhmm(wall)} occurs twice on {wall.date().isoformat()} (DST overlap)"
    if overlap is DstOverlap.FIRST:
        return _Mapped((_Candidate(first, False, wall, f"{head}; first"),))
    if overlap is DstOverlap.LAST:
        return _Mapped((_Candidate(last, False, wall, f"{head}; last"),))
    return _Mapped(
        (
            _Candidate(first, False, wall, f"{head}; first of both"),
            _Candidate(last, True, wall + size, f"{head}; second of both"),
        )
    )


def map_wall(wall: datetime, zone: ZoneInfo, gap: DstGap, overlap: DstOverlap) -> _Mapped:
    """The instants a naive wall time stands for under the policy (zero, one or two)."""
    early, late = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    off0, off1 = early.utcoffset(), late.utcoffset()
    if off0 is None or off1 is None or off0 == off1:
        return _Mapped((_Candidate(early.astimezone(UTC), False, wall, None),))
    size = abs(off1 - off0)
    if to_wall(early.astimezone(UTC), zone) != wall:
        return _map_gap(wall, zone, gap, size)
    return _map_overlap(wall, zone, overlap, size)


def offset_span(instant: datetime, zone: ZoneInfo) -> timedelta:
    """How far the zone's UTC offset moves within two days either side of `instant`."""
    offsets = [
        (instant + timedelta(hours=12 * k)).astimezone(zone).utcoffset() or timedelta()
        for k in range(-4, 5)
    ]
    return max(offsets) - min(offsets)


def wall_start(after: datetime, zone: ZoneInfo) -> datetime:
    """A wall time early enough that no wall time before it maps to an instant after `after`."""
    return to_wall(after, zone) - offset_span(after, zone) - timedelta(seconds=1)


@dataclass
class _Collector:
    zone: ZoneInfo
    after: datetime
    count: int
    heap: list[_Candidate] = field(default_factory=list)
    out: list[Occurrence] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, mapped: _Mapped) -> None:
        if mapped.skipped and mapped.skipped_instant and mapped.skipped_instant > self.after:
            self.skipped.append(mapped.skipped)
        for candidate in mapped.candidates:
            heapq.heappush(self.heap, candidate)

    def release(self, upto: datetime | None) -> None:
        """Emit, in instant order, candidates no later wall time than `upto` can precede."""
        while self.heap and len(self.out) < self.count:
            if upto is not None and self.heap[0].release > upto:
                return
            self.emit(heapq.heappop(self.heap))

    def emit(self, candidate: _Candidate) -> None:
        last = self.out[-1].instant if self.out else self.after
        if candidate.instant <= last:
            return  # before the query, or a second wall time landing on the same instant
        notes = [*self.skipped, candidate.note] if candidate.note else self.skipped
        self.skipped = []
        local = candidate.instant.astimezone(self.zone)
        self.out.append(Occurrence(candidate.instant, local, "; ".join(notes) or None))


def collect_occurrences(
    walls: Iterable[datetime],
    zone: ZoneInfo,
    gap: DstGap,
    overlap: DstOverlap,
    after: datetime,
    count: int,
) -> list[Occurrence]:
    """The first `count` occurrences strictly after `after` from ascending naive wall times."""
    collector = _Collector(zone, after, count)
    budget = count + MAX_EXTRA_WALLS
    for wall in walls:
        collector.add(map_wall(wall, zone, gap, overlap))
        collector.release(wall)
        budget -= 1
        if len(collector.out) >= count or budget <= 0:
            return collector.out
    collector.release(None)
    return collector.out
