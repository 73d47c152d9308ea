"""Reading RFC 5545 recurrence text into checked values, with messages that name the part.

dateutil's own parser accepts things the RFC forbids (COUNT with UNTIL, BYSETPOS alone,
ordinal BYDAY in a WEEKLY rule) and reports others as a bare `invalid 'BYMONTH': 13`; reading
the text here gives `BYMONTH=13: month must be 1..12` and keeps dateutil as the calculator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from dateutil import rrule as du

from ordinaut.core.errors import ScheduleError
from ordinaut.scheduling.zones import load_zone

Freq = Literal[0, 1, 2, 3, 4, 5, 6]  # dateutil's YEARLY..SECONDLY
FREQS: dict[str, Freq] = {
    "SECONDLY": du.SECONDLY,
    "MINUTELY": du.MINUTELY,
    "HOURLY": du.HOURLY,
    "DAILY": du.DAILY,
    "WEEKLY": du.WEEKLY,
    "MONTHLY": du.MONTHLY,
    "YEARLY": du.YEARLY,
}
WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
# part -> (attribute, what it is, low, high, negatives allowed)
_INT_LISTS = {
    "BYSECOND": ("bysecond", "second", 0, 59, False),
    "BYMINUTE": ("byminute", "minute", 0, 59, False),
    "BYHOUR": ("byhour", "hour", 0, 23, False),
    "BYMONTHDAY": ("bymonthday", "day of month", 1, 31, True),
    "BYYEARDAY": ("byyearday", "day of year", 1, 366, True),
    "BYWEEKNO": ("byweekno", "week number", 1, 53, True),
    "BYMONTH": ("bymonth", "month", 1, 12, False),
    "BYSETPOS": ("bysetpos", "set position", 1, 366, True),
}
_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY", *_INT_LISTS)
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?([A-Z]{2})$")
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class DateValue:
    """A date or date-time as written: floating, UTC (`Z`) or in a named zone (`TZID=`)."""

    wall: datetime  # naive
    tzid: str | None = None
    utc: bool = False
    date_only: bool = False


@dataclass(frozen=True)
class RuleParts:
    """One RRULE's parts, checked; tuples as dateutil takes them."""

    freq: Freq
    interval: int = 1
    count: int | None = None
    until: DateValue | None = None
    wkst: int | None = None
    bysetpos: tuple[int, ...] | None = None
    bymonth: tuple[int, ...] | None = None
    bymonthday: tuple[int, ...] | None = None
    byyearday: tuple[int, ...] | None = None
    byweekno: tuple[int, ...] | None = None
    byweekday: tuple[tuple[int, int | None], ...] | None = None
    byhour: tuple[int, ...] | None = None
    byminute: tuple[int, ...] | None = None
    bysecond: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ParsedRecurrence:
    rules: tuple[RuleParts, ...]
    dtstart: DateValue | None
    rdates: tuple[DateValue, ...]
    exdates: tuple[DateValue, ...]


def _int_list(part: str, raw: str) -> tuple[int, ...]:
    _attr, what, low, high, negative = _INT_LISTS[part]
    span = f"{low}..{high}" + (f" or -{high}..-{low}" if negative else "")
    values = []
    for item in raw.split(","):
        number = int(item) if _INT.match(item) else None
        if number is None or not (low <= abs(number) <= high and (negative or number >= 0)):
            got = f" (got {item!r})" if "," in raw else ""
            raise ScheduleError(f"{part}={raw}: {what} must be {span}{got}")
        values.append(number)
    return tuple(values)


def _byday(raw: str, freq: int) -> tuple[tuple[int, int | None], ...]:
    days: list[tuple[int, int | None]] = []
    for item in raw.split(","):
        match = _BYDAY.match(item)
        if match is None or match[2] not in WEEKDAYS:
            raise ScheduleError(f"BYDAY={raw}: {item!r} is not a weekday such as MO, 1FR or -1SU")
        n = int(match[1]) if match[1] else None
        if n is not None and not 1 <= abs(n) <= 53:
            raise ScheduleError(f"BYDAY={raw}: the ordinal in {item!r} must be 1..53 or -53..-1")
        if n is not None and freq not in (du.MONTHLY, du.YEARLY):
            raise ScheduleError(f"BYDAY={raw}: an ordinal weekday needs FREQ=MONTHLY or YEARLY")
        days.append((WEEKDAYS[match[2]], n))
    return tuple(days)


def _positive(part: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ScheduleError(f"{part}={raw}: must be a positive integer")
    return int(raw)


def parse_date(prop: str, raw: str, tzid: str | None = None) -> DateValue:
    """`20250330T023000`, `...Z` or `20250330`, as written in property `prop`."""
    match = _DATE.match(raw)
    if match is None:
        raise ScheduleError(
            f"{prop}:{raw}: not a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS[Z])"
        )
    y, mo, d, h, mi, s, zulu = match.groups()
    try:
        wall = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=UTC)
    except ValueError as error:
        raise ScheduleError(f"{prop}:{raw}: {error}") from None
    if zulu and tzid:
        raise ScheduleError(f"{prop};TZID={tzid}:{raw}: a UTC time (Z) cannot also have a TZID")
    return DateValue(wall.replace(tzinfo=None), tzid, bool(zulu), h is None)


def _split_rule(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for pair in text.strip(";").split(";"):
        name, sep, raw = pair.partition("=")
        name = name.upper()
        if not sep or not name:
            raise ScheduleError(f"RRULE part {pair!r} must look like NAME=VALUE")
        if name not in _PARTS:
            raise ScheduleError(f"{name}={raw}: unknown RRULE part (known: {', '.join(_PARTS)})")
        if name in parts:
            raise ScheduleError(f"{name} is given twice in one RRULE")
        if not raw:
            raise ScheduleError(f"{name}=: needs a value")
        parts[name] = raw.upper()
    return parts


def _check_combination(parts: dict[str, str], freq: int) -> None:
    """The RFC 5545 section 3.3.10 rules on which parts go together."""
    if "COUNT" in parts and "UNTIL" in parts:
        raise ScheduleError("COUNT and UNTIL cannot both be given (RFC 5545)")
    if "BYWEEKNO" in parts and freq != du.YEARLY:
        raise ScheduleError(f"BYWEEKNO={parts['BYWEEKNO']}: only allowed with FREQ=YEARLY")
    if "BYYEARDAY" in parts and freq in (du.DAILY, du.WEEKLY, du.MONTHLY):
        raise ScheduleError(f"BYYEARDAY={parts['BYYEARDAY']}: not allowed with this FREQ")
    if "BYMONTHDAY" in parts and freq == du.WEEKLY:
        raise ScheduleError(f"BYMONTHDAY={parts['BYMONTHDAY']}: not allowed with FREQ=WEEKLY")
    if "BYSETPOS" in parts and not any(p.startswith("BY") and p != "BYSETPOS" for p in parts):
        raise ScheduleError(f"BYSETPOS={parts['BYSETPOS']}: needs another BYxxx part")


def parse_rule(text: str) -> RuleParts:
    """One RRULE value such as `FREQ=MONTHLY;BYDAY=-1FR;COUNT=3`."""
    parts = _split_rule(text)
    if "FREQ" not in parts:
        raise ScheduleError(f"RRULE {text!r} needs FREQ (e.g. FREQ=DAILY)")
    if parts["FREQ"] not in FREQS:
        raise ScheduleError(f"FREQ={parts['FREQ']}: must be one of {', '.join(FREQS)}")
    freq = FREQS[parts["FREQ"]]
    _check_combination(parts, freq)
    if "WKST" in parts and parts["WKST"] not in WEEKDAYS:
        raise ScheduleError(f"WKST={parts['WKST']}: must be one of {', '.join(WEEKDAYS)}")
    if "BYDAY" in parts and "BYWEEKNO" in parts and any(c.isdigit() for c in parts["BYDAY"]):
        raise ScheduleError(f"BYDAY={parts['BYDAY']}: no ordinal weekdays together with BYWEEKNO")
    lists = {_INT_LISTS[p][0]: _int_list(p, raw) for p, raw in parts.items() if p in _INT_LISTS}
    return RuleParts(
        freq=freq,
        interval=_positive("INTERVAL", parts["INTERVAL"]) if "INTERVAL" in parts else 1,
        count=_positive("COUNT", parts["COUNT"]) if "COUNT" in parts else None,
        until=parse_date("UNTIL", parts["UNTIL"]) if "UNTIL" in parts else None,
        wkst=WEEKDAYS[parts["WKST"]] if "WKST" in parts else None,
        byweekday=_byday(parts["BYDAY"], freq) if "BYDAY" in parts else None,
        **lists,
    )


def _dates(name: str, params: list[str], raw: str) -> list[DateValue]:
    tzid = None
    for param in params:
        key, _, value = param.partition("=")
        if key.upper() == "TZID":
            try:
                load_zone(value)
            except ScheduleError:
                raise ScheduleError(f"{name};TZID={value}: unknown time zone") from None
            tzid = value
        elif param.upper() not in ("VALUE=DATE", "VALUE=DATE-TIME"):
            raise ScheduleError(f"{name}: parameter {param!r} is not supported")
    return [parse_date(name, item, tzid) for item in raw.split(",")]


def _lines(expr: str) -> list[str]:
    unfolded = re.sub(r"\r?\n[ \t]", "", expr)  # RFC 5545 line folding
    return unfolded.split()


@lru_cache(maxsize=4096)
def parse_recurrence(expr: str) -> ParsedRecurrence:
    """Check a recurrence (bare rule or RRULE/DTSTART/EXDATE/RDATE lines) without a zone."""
    rules: list[RuleParts] = []
    dtstarts: list[DateValue] = []
    rdates: list[DateValue] = []
    exdates: list[DateValue] = []
    for line in _lines(expr):
        head, colon, value = line.partition(":")
        if not colon:
            rules.append(parse_rule(line))
            continue
        name, *params = head.split(";")
        name = name.upper()
        if name == "RRULE":
            rules.append(parse_rule(value))
        elif name in ("DTSTART", "RDATE", "EXDATE"):
            target = {"DTSTART": dtstarts, "RDATE": rdates, "EXDATE": exdates}[name]
            target.extend(_dates(name, params, value))
        elif name == "EXRULE":
            raise ScheduleError("EXRULE was removed from iCalendar by RFC 5545: use EXDATE")
        else:
            raise ScheduleError(f"{name}: unknown line (use RRULE, DTSTART, EXDATE or RDATE)")
    if not rules:
        raise ScheduleError("an rrule schedule needs a rule such as FREQ=DAILY;BYHOUR=9")
    if len(dtstarts) > 1:
        raise ScheduleError("DTSTART is given more than once")
    dtstart = dtstarts[0] if dtstarts else None
    return ParsedRecurrence(tuple(rules), dtstart, tuple(rdates), tuple(exdates))
