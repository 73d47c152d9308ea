"""Preview: the next occurrences of a schedule as plain values for the API and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta

from ordinaut.scheduling.spec import ScheduleSpec, next_occurrences
from ordinaut.scheduling.zones import Occurrence


def format_offset(offset: timedelta | None) -> str:
    """A UTC offset as `+03:00`, `-05:00` or `+10:30`."""
    seconds = int((offset or timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def preview_entry(occurrence: Occurrence) -> dict[str, str | None]:
    """`{local, utc, offset, note}` for one occurrence; `utc` ends in `Z`."""
    return {
        "local": occurrence.local.isoformat(),
        "utc": occurrence.instant.isoformat().replace("+00:00", "Z"),
        "offset": format_offset(occurrence.local.utcoffset()),
        "note": occurrence.note,
    }


def preview(spec: ScheduleSpec, after: datetime, count: int) -> list[dict[str, str | None]]:
    """The next `count` occurrences after `after`; a skipped wall time is noted on the next one."""
    return [preview_entry(occurrence) for occurrence in next_occurrences(spec, after, count)]
