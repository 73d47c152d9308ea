"""One-shot schedules: an ISO-8601 instant, or a wall time in the task's zone."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from ordinaut.core.errors import ScheduleError


@lru_cache(maxsize=4096)
def parse_once(expr: str) -> datetime:
    """The moment `expr` names: aware when it carries an offset or `Z`, else a naive wall time.

    A naive value is read later as wall time in the task's zone, through its DST policy.
    """
    text = expr.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        msg = f"once: {text!r} is not an ISO-8601 date-time (e.g. 2025-06-01T09:00:00+03:00)"
        raise ScheduleError(msg) from None
