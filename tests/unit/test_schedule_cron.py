"""Standard cron semantics: weekdays, names, macros, Vixie day OR, seconds, and refusals."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ordinaut.core.errors import ScheduleError
from ordinaut.core.states import ScheduleKind
from ordinaut.scheduling import ScheduleSpec, next_occurrences, validate_schedule

MONDAY = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)  # a Monday


def walls(expr: str, count: int, after: datetime = MONDAY, zone: str = "UTC") -> list[str]:
    spec = ScheduleSpec(ScheduleKind.CRON, expr, zone, after)
    return [o.local.strftime("%a %Y-%m-%d %H:%M:%S") for o in next_occurrences(spec, after, count)]


def test_weekdays_range_is_monday_to_friday() -> None:
    got = walls("30 8 * * 1-5", 6)
    assert [w[:3] for w in got] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]
    assert all(w.endswith("08:30:00") for w in got)


@pytest.mark.parametrize("dow", ["0", "7", "SUN", "sun"], ids=["zero", "seven", "name", "lower"])
def test_sunday_spellings(dow: str) -> None:
    assert walls(f"0 9 * * {dow}", 2) == ["Sun 2025-06-08 09:00:00", "Sun 2025-06-15 09:00:00"]


def test_range_ending_at_seven_is_friday_to_sunday() -> None:
    assert [w[:3] for w in walls("0 9 * * 5-7", 4)] == ["Fri", "Sat", "Sun", "Fri"]


def test_month_names_lists_and_steps() -> None:
    assert walls("0 0 1 JAN,jul *", 3) == [
        "Tue 2025-07-01 00:00:00",
        "Thu 2026-01-01 00:00:00",
        "Wed 2026-07-01 00:00:00",
    ]
    assert walls("*/20 10-11 * * *", 7)[-1] == "Tue 2025-06-03 10:00:00"


def test_restricted_day_of_month_and_weekday_match_either() -> None:
    # Vixie cron: "on the 13th, and on every Friday"
    got = walls("0 9 13 * FRI", 4)
    assert got == [
        "Fri 2025-06-06 09:00:00",
        "Fri 2025-06-13 09:00:00",
        "Fri 2025-06-20 09:00:00",
        "Fri 2025-06-27 09:00:00",
    ]
    assert walls("0 9 13 * MON", 3) == [
        "Mon 2025-06-02 09:00:00",
        "Mon 2025-06-09 09:00:00",
        "Fri 2025-06-13 09:00:00",
    ]


def test_unrestricted_day_of_week_keeps_day_of_month_alone() -> None:
    assert walls("0 9 13 * *", 2) == ["Fri 2025-06-13 09:00:00", "Sun 2025-07-13 09:00:00"]


@pytest.mark.parametrize(
    ("macro", "same_as"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_macros(macro: str, same_as: str) -> None:
    assert walls(macro, 3) == walls(same_as, 3)
    assert len(walls(macro, 3)) == 3


def test_six_fields_put_seconds_first() -> None:
    assert walls("15 0 9 * * *", 2) == ["Mon 2025-06-02 09:00:15", "Tue 2025-06-03 09:00:15"]
    assert walls("*/20 * * * * *", 3) == [
        "Mon 2025-06-02 00:00:20",
        "Mon 2025-06-02 00:00:40",
        "Mon 2025-06-02 00:01:00",
    ]


def test_cron_runs_in_the_task_zone() -> None:
    spec = ScheduleSpec(ScheduleKind.CRON, "0 9 * * *", "Asia/Kolkata", MONDAY)
    (first,) = next_occurrences(spec, MONDAY, 1)
    assert first.instant == datetime(2025, 6, 2, 3, 30, tzinfo=UTC)
    assert first.local.tzinfo == ZoneInfo("Asia/Kolkata")


def test_occurrences_are_strictly_after_the_query() -> None:
    at_nine = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    assert walls("0 9 * * *", 1, after=at_nine) == ["Tue 2025-06-03 09:00:00"]


def test_leap_day_is_allowed_and_found() -> None:
    assert walls("0 0 29 2 *", 1) == ["Tue 2028-02-29 00:00:00"]


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("@reboot", "@reboot is not supported"),
        ("@every", "macro '@every' is unknown"),
        ("0 9 L * *", "'L' (last day) is not standard cron"),
        ("0 9 * * 5L", "'L' (last day) is not standard cron"),
        ("0 9 * * 5#2", "'#' (nth weekday of the month) is not standard cron"),
        ("0 9 ? * *", "'?' (no specific value) is not standard cron"),
        ("H 9 * * *", "'H' (hashed or random value) is not standard cron"),
        ("0 9 15W * *", "'W' (nearest weekday) is not standard cron"),
        ("0 9 * * * * 2025", "7 fields (a year field) is not standard cron"),
        ("* * * *", "cron needs 5 fields (or 6 with seconds first), got 4"),
        ("", "cron needs 5 fields"),
        ("60 9 * * *", "cron minute: 60 is out of range 0..59"),
        ("0 24 * * *", "cron hour: 24 is out of range 0..23"),
        ("0 9 0 * *", "cron day-of-month: 0 is out of range 1..31"),
        ("0 9 * 13 *", "cron month: 13 is out of range 1..12"),
        ("0 9 * * 8", "cron day-of-week: 8 is out of range 0..7"),
        ("60 0 9 * * *", "cron second: 60 is out of range 0..59"),
        ("0 9 * FOO *", "cron month: 'FOO' is not a number or a name"),
        ("0 9 * * MON-FOO", "cron day-of-week: 'FOO' is not a number or a name"),
        ("0 9 * JAN-MON *", "cron month: 'MON' is not a number or a name"),
        ("0 9 * * 5-1", "cron day-of-week: range '5-1' goes backwards"),
        ("*/0 * * * *", "a step must be at least 1"),
        ("1/2 * * * *", "a step needs a range or '*'"),
        ("0 9 ,1 * *", "has an empty list item"),
        ("0 9 1-2-3 * *", "is not a value, range, list or step"),
        ("0 0 31 2 *", "cron never fires: no chosen month has day 31"),
        ("0 0 30,31 2 *", "cron never fires: no chosen month has day 30"),
        ("0 0 31 4,6,9,11 *", "cron never fires"),
    ],
)
def test_invalid_cron_is_refused_with_a_message(expr: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_schedule(ScheduleKind.CRON, expr, "UTC")
    assert fragment in caught.value.message
    assert caught.value.field_name == "schedule_expr"
    assert caught.value.errors[0].loc == ("body", "schedule_expr")


def test_never_matching_day_with_weekday_still_fires_on_weekdays() -> None:
    # February 31st never comes, but "or every Monday in February" does
    assert walls("0 0 31 2 MON", 1) == ["Mon 2026-02-02 00:00:00"]
