"""Standard cron: checked here field by field, iterated by `croniter` over naive wall times.

croniter accepts more than standard cron (`L`, `W`, `#`, `?`, hashed `H`, a seventh year
field, `N/step`); an expression that means something only to croniter would surprise anyone
who wrote it for crontab, so each field is checked against the standard grammar first and
croniter only ever sees standard expressions. Day-of-month and day-of-week match EITHER when
both are restricted (Vixie cron), which is croniter's `day_or=True`.
"""

from __future__ import annotations

import calendar
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from croniter import CroniterError, croniter

from ordinaut.core.errors import ScheduleError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTH_NAMES = {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name}
DAY_NAMES = {name: n for n, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_SECOND = _Field("second", 0, 59)
_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, MONTH_NAMES),
    _Field("day-of-week", 0, 7, DAY_NAMES),
)
_TERM = re.compile(r"^(?:(?P<star>\*)|(?P<a>[0-9a-z]+)(?:-(?P<b>[0-9a-z]+))?)(?:/(?P<step>\d+))?$")
_EXTENSIONS = (
    (re.compile(r"#"), "'#' (nth weekday of the month)"),
    (re.compile(r"\?"), "'?' (no specific value)"),
    (re.compile(r"^h\b|^h\(|^h/|^r$"), "'H' (hashed or random value)"),
    (re.compile(r"^l$|^\d*l$|^l\d|^l-"), "'L' (last day)"),
    (re.compile(r"^\d+w$|^w\d+$|^lw$"), "'W' (nearest weekday)"),
)


@dataclass(frozen=True)
class CronExpr:
    """A checked cron expression: the five standard fields, with seconds first when six."""

    text: str
    with_seconds: bool


def _fail(field: _Field, message: str) -> ScheduleError:
    return ScheduleError(f"cron {field.name}: {message}")


def _value(field: _Field, token: str) -> int:
    if token.isdigit():
        number = int(token)
        if not field.low <= number <= field.high:
            raise _fail(field, f"{number} is out of range {field.low}..{field.high}")
        return number
    if field.names and token in field.names:
        return field.names[token]
    for pattern, what in _EXTENSIONS:
        if pattern.search(token):
            raise _fail(field, f"{what} is not standard cron")
    raise _fail(field, f"{token.upper()!r} is not a number or a name")


def _check_term(field: _Field, term: str) -> None:
    for pattern, what in _EXTENSIONS:
        if pattern.search(term) and not (field.names and term in field.names):
            raise _fail(field, f"{what} is not standard cron")
    match = _TERM.match(term)
    if match is None:
        raise _fail(field, f"{term.upper()!r} is not a value, range, list or step")
    step = match["step"]
    if step is not None and int(step) == 0:
        raise _fail(field, f"{term!r}: a step must be at least 1")
    if match["star"]:
        return
    low = _value(field, match["a"])
    if match["b"] is None:
        if step is not None:
            raise _fail(
                field, f"{term!r}: a step needs a range or '*' (write {match['a']}-N/{step})"
            )
        return
    high = _value(field, match["b"])
    if high < low:
        raise _fail(field, f"range {term.upper()!r} goes backwards")


def _check_field(field: _Field, text: str) -> None:
    terms = text.split(",")
    if any(not term for term in terms):
        raise _fail(field, f"{text!r} has an empty list item")
    for term in terms:
        _check_term(field, term)


def _check_some_day_exists(text: str, with_seconds: bool) -> None:
    """Refuse day-of-month/month pairs that never happen (`0 0 31 2 *`) instead of searching."""
    expanded, _ = croniter.expand(text, second_at_beginning=with_seconds)
    days, months, weekdays = expanded[2], expanded[3], expanded[4]
    if days == ["*"] or weekdays != ["*"]:
        return
    month_list = range(1, 13) if months == ["*"] else [int(m) for m in months]
    longest = max(calendar.monthrange(2024, month)[1] for month in month_list)
    if min(int(day) for day in days) > longest:
        raise ScheduleError(f"cron never fires: no chosen month has day {min(days)}")


def _fields(expr: str) -> tuple[list[str], bool]:
    text = expr.strip().lower()
    if text.startswith("@"):
        if text == "@reboot":
            raise ScheduleError("cron @reboot is not supported: use kind 'once' or run-now")
        if text not in MACROS:
            raise ScheduleError(f"cron macro {text!r} is unknown (use one of {', '.join(MACROS)})")
        return MACROS[text].split(), False
    fields = text.split()
    if len(fields) == 7:
        raise ScheduleError("cron with 7 fields (a year field) is not standard cron")
    if len(fields) not in (5, 6):
        raise ScheduleError(f"cron needs 5 fields (or 6 with seconds first), got {len(fields)}")
    return fields, len(fields) == 6


@lru_cache(maxsize=4096)
def parse_cron(expr: str) -> CronExpr:
    """Check a cron expression; ScheduleError names the field and what is wrong with it."""
    fields, with_seconds = _fields(expr)
    layout = (_SECOND, *_FIELDS) if with_seconds else _FIELDS
    for field, text in zip(layout, fields, strict=True):
        _check_field(field, text)
    text = " ".join(fields)
    try:
        croniter.expand(text, second_at_beginning=with_seconds)
    except CroniterError as error:  # a last line of defence: our checks should catch it first
        raise ScheduleError(f"cron {expr!r} is not valid: {error}") from None
    _check_some_day_exists(text, with_seconds)
    return CronExpr(text, with_seconds)


@lru_cache(maxsize=4096)
def _template(cron: CronExpr) -> croniter:
    epoch = datetime(2000, 1, 1)  # noqa: DTZ001 - cron steps through naive wall times
    return croniter(cron.text, epoch, day_or=True, second_at_beginning=cron.with_seconds)


def cron_walls(cron: CronExpr, start: datetime) -> Iterator[datetime]:
    """Naive wall times matching `cron`, strictly after the naive wall time `start`.

    Parsing an expression costs more than stepping it, and the scheduler asks for the next
    time of the same few expressions again and again: each call copies a parsed template.
    """
    it = copy.copy(_template(cron))
    it.set_current(start, force=True)
    while True:
        try:
            wall: datetime = it.get_next(datetime)
        except (CroniterError, OverflowError):
            return  # past year 9999, or no match within croniter's search window
        yield wall
