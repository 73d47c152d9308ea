"""RRULE: the RFC 5545 section 3.8.5.3 examples, anchoring, EXDATE/RDATE, and refusals."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ordinaut.core.errors import ScheduleError
from ordinaut.core.states import ScheduleKind
from ordinaut.scheduling import (
    ScheduleSpec,
    is_finite,
    next_occurrence,
    next_occurrences,
    validate_schedule,
)
from ordinaut.scheduling.rrule import _rule_after, compile_recurrence

NY = ZoneInfo("America/New_York")
START = "DTSTART;TZID=America/New_York:"


def at(year: int, month: int, days: list[int], hhmm: str = "09:00") -> list[datetime]:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return [datetime(year, month, day, hour, minute, tzinfo=NY) for day in days]


def series(expr: str, count: int, zone: str = "America/New_York") -> list[datetime]:
    """Occurrences from the beginning of time (the expr carries its DTSTART)."""
    spec = ScheduleSpec(ScheduleKind.RRULE, expr, zone, datetime(1990, 1, 1, tzinfo=UTC))
    return [o.local for o in next_occurrences(spec, datetime(1990, 1, 1, tzinfo=UTC), count)]


def assert_same(got: list[datetime], expected: list[datetime]) -> None:
    assert [g.replace(tzinfo=None) for g in got] == [e.replace(tzinfo=None) for e in expected]
    assert [g.utcoffset() for g in got] == [e.utcoffset() for e in expected]


EDT_TO_EST_DAILY = (
    at(1997, 9, list(range(2, 31)))
    + at(1997, 10, list(range(1, 32)))
    + at(1997, 11, list(range(1, 31)))
    + at(1997, 12, list(range(1, 24)))
)
FINITE = [
    ("daily_10", "19970902T090000", "FREQ=DAILY;COUNT=10", at(1997, 9, list(range(2, 12)))),
    ("daily_until", "19970902T090000", "FREQ=DAILY;UNTIL=19971224T000000Z", EDT_TO_EST_DAILY),
    (
        "every_10_days_5",
        "19970902T090000",
        "FREQ=DAILY;INTERVAL=10;COUNT=5",
        at(1997, 9, [2, 12, 22]) + at(1997, 10, [2, 12]),
    ),
    (
        "january_3_years_yearly",
        "19980101T090000",
        "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        [d for y in (1998, 1999, 2000) for d in at(y, 1, list(range(1, 32)))],
    ),
    (
        "january_3_years_daily",
        "19980101T090000",
        "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
        [d for y in (1998, 1999, 2000) for d in at(y, 1, list(range(1, 32)))],
    ),
    (
        "weekly_10",
        "19970902T090000",
        "FREQ=WEEKLY;COUNT=10",
        at(1997, 9, [2, 9, 16, 23, 30]) + at(1997, 10, [7, 14, 21, 28]) + at(1997, 11, [4]),
    ),
    (
        "weekly_until",
        "19970902T090000",
        "FREQ=WEEKLY;UNTIL=19971224T000000Z",
        at(1997, 9, [2, 9, 16, 23, 30])
        + at(1997, 10, [7, 14, 21, 28])
        + at(1997, 11, [4, 11, 18, 25])
        + at(1997, 12, [2, 9, 16, 23]),
    ),
    (
        "tue_thu_5_weeks_until",
        "19970902T090000",
        "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
        at(1997, 9, [2, 4, 9, 11, 16, 18, 23, 25, 30]) + at(1997, 10, [2]),
    ),
    (
        "tue_thu_5_weeks_count",
        "19970902T090000",
        "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
        at(1997, 9, [2, 4, 9, 11, 16, 18, 23, 25, 30]) + at(1997, 10, [2]),
    ),
    (
        "other_week_mo_we_fr",
        "19970901T090000",
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        at(1997, 9, [1, 3, 5, 15, 17, 19, 29])
        + at(1997, 10, [1, 3, 13, 15, 17, 27, 29, 31])
        + at(1997, 11, [10, 12, 14, 24, 26, 28])
        + at(1997, 12, [8, 10, 12, 22]),
    ),
    (
        "other_week_tu_th_8",
        "19970902T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
        at(1997, 9, [2, 4, 16, 18, 30]) + at(1997, 10, [2, 14, 16]),
    ),
    (
        "first_friday_10",
        "19970905T090000",
        "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        at(1997, 9, [5])
        + at(1997, 10, [3])
        + at(1997, 11, [7])
        + at(1997, 12, [5])
        + at(1998, 1, [2])
        + at(1998, 2, [6])
        + at(1998, 3, [6])
        + at(1998, 4, [3])
        + at(1998, 5, [1])
        + at(1998, 6, [5]),
    ),
    (
        "first_friday_until",
        "19970905T090000",
        "FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR",
        at(1997, 9, [5]) + at(1997, 10, [3]) + at(1997, 11, [7]) + at(1997, 12, [5]),
    ),
    (
        "other_month_first_last_sunday",
        "19970907T090000",
        "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
        at(1997, 9, [7, 28])
        + at(1997, 11, [2, 30])
        + at(1998, 1, [4, 25])
        + at(1998, 3, [1, 29])
        + at(1998, 5, [3, 31]),
    ),
    (
        "second_to_last_monday_6",
        "19970922T090000",
        "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
        at(1997, 9, [22])
        + at(1997, 10, [20])
        + at(1997, 11, [17])
        + at(1997, 12, [22])
        + at(1998, 1, [19])
        + at(1998, 2, [16]),
    ),
    (
        "2nd_and_15th_10",
        "19970902T090000",
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        at(1997, 9, [2, 15])
        + at(1997, 10, [2, 15])
        + at(1997, 11, [2, 15])
        + at(1997, 12, [2, 15])
        + at(1998, 1, [2, 15]),
    ),
    (
        "first_and_last_day_10",
        "19970930T090000",
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
        at(1997, 9, [30])
        + at(1997, 10, [1, 31])
        + at(1997, 11, [1, 30])
        + at(1997, 12, [1, 31])
        + at(1998, 1, [1, 31])
        + at(1998, 2, [1]),
    ),
    (
        "every_18_months_10th_to_15th",
        "19970910T090000",
        "FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
        at(1997, 9, [10, 11, 12, 13, 14, 15]) + at(1999, 3, [10, 11, 12, 13]),
    ),
    (
        "june_july_10",
        "19970610T090000",
        "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        [d for y in range(1997, 2002) for d in at(y, 6, [10]) + at(y, 7, [10])],
    ),
    (
        "other_year_jan_feb_mar_10",
        "19970310T090000",
        "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3",
        at(1997, 3, [10])
        + [d for y in (1999, 2001, 2003) for m in (1, 2, 3) for d in at(y, m, [10])],
    ),
    (
        "third_year_days_1_100_200",
        "19970101T090000",
        "FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200",
        at(1997, 1, [1])
        + at(1997, 4, [10])
        + at(1997, 7, [19])
        + at(2000, 1, [1])
        + at(2000, 4, [9])
        + at(2000, 7, [18])
        + at(2003, 1, [1])
        + at(2003, 4, [10])
        + at(2003, 7, [19])
        + at(2006, 1, [1]),
    ),
    (
        "third_tue_wed_thu_3_months",
        "19970904T090000",
        "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        at(1997, 9, [4]) + at(1997, 10, [7]) + at(1997, 11, [6]),
    ),
    (
        # The RFC lists 09:00, 12:00, 15:00 but its UNTIL (17:00Z) is 13:00 EDT: a known
        # erratum. Read literally, as here, UNTIL stops the series after 12:00.
        "every_3_hours_until_literal",
        "19970902T090000",
        "FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z",
        at(1997, 9, [2], "09:00") + at(1997, 9, [2], "12:00"),
    ),
    (
        "every_3_hours_until_local_5pm",
        "19970902T090000",
        "FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T210000Z",
        [at(1997, 9, [2], t)[0] for t in ("09:00", "12:00", "15:00")],
    ),
    (
        "every_15_minutes_6",
        "19970902T090000",
        "FREQ=MINUTELY;INTERVAL=15;COUNT=6",
        [at(1997, 9, [2], t)[0] for t in ("09:00", "09:15", "09:30", "09:45", "10:00", "10:15")],
    ),
    (
        "every_90_minutes_4",
        "19970902T090000",
        "FREQ=MINUTELY;INTERVAL=90;COUNT=4",
        [at(1997, 9, [2], t)[0] for t in ("09:00", "10:30", "12:00", "13:30")],
    ),
    (
        "wkst_mo",
        "19970805T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
        at(1997, 8, [5, 10, 19, 24]),
    ),
    (
        "wkst_su",
        "19970805T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        at(1997, 8, [5, 17, 19, 31]),
    ),
    (
        "february_30_ignored",
        "20070115T090000",
        "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        at(2007, 1, [15, 30]) + at(2007, 2, [15]) + at(2007, 3, [15, 30]),
    ),
]


@pytest.mark.parametrize(
    ("dtstart", "rule", "expected"), [c[1:] for c in FINITE], ids=[c[0] for c in FINITE]
)
def test_rfc5545_finite_examples(dtstart: str, rule: str, expected: list[datetime]) -> None:
    got = series(f"{START}{dtstart}\nRRULE:{rule}", len(expected) + 5)
    assert_same(got, expected)


FOREVER = [
    ("every_other_day", "19970902T090000", "FREQ=DAILY;INTERVAL=2", at(1997, 9, [2, 4, 6, 8, 10])),
    (
        "every_other_week",
        "19970902T090000",
        "FREQ=WEEKLY;INTERVAL=2;WKST=SU",
        at(1997, 9, [2, 16, 30]) + at(1997, 10, [14, 28]) + at(1997, 11, [11]),
    ),
    (
        "third_to_last_day",
        "19970928T090000",
        "FREQ=MONTHLY;BYMONTHDAY=-3",
        at(1997, 9, [28])
        + at(1997, 10, [29])
        + at(1997, 11, [28])
        + at(1997, 12, [29])
        + at(1998, 1, [29])
        + at(1998, 2, [26]),
    ),
    (
        "tuesday_every_other_month",
        "19970902T090000",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
        at(1997, 9, [2, 9, 16, 23, 30])
        + at(1997, 11, [4, 11, 18, 25])
        + at(1998, 1, [6, 13, 20, 27])
        + at(1998, 3, [3, 10, 17, 24, 31]),
    ),
    (
        "20th_monday",
        "19970519T090000",
        "FREQ=YEARLY;BYDAY=20MO",
        at(1997, 5, [19]) + at(1998, 5, [18]) + at(1999, 5, [17]),
    ),
    (
        "monday_of_week_20",
        "19970512T090000",
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        at(1997, 5, [12]) + at(1998, 5, [11]) + at(1999, 5, [17]),
    ),
    (
        "thursdays_in_march",
        "19970313T090000",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
        at(1997, 3, [13, 20, 27]) + at(1998, 3, [5, 12, 19, 26]) + at(1999, 3, [4, 11, 18, 25]),
    ),
    (
        "thursdays_in_summer",
        "19970605T090000",
        "FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8",
        at(1997, 6, [5, 12, 19, 26])
        + at(1997, 7, [3, 10, 17, 24, 31])
        + at(1997, 8, [7, 14, 21, 28])
        + at(1998, 6, [4, 11, 18, 25])
        + at(1998, 7, [2, 9, 16, 23, 30])
        + at(1998, 8, [6, 13, 20, 27])
        + at(1999, 6, [3, 10, 17, 24])
        + at(1999, 7, [1, 8, 15, 22, 29])
        + at(1999, 8, [5, 12, 19, 26]),
    ),
    (
        "saturday_after_first_sunday",
        "19970913T090000",
        "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13",
        at(1997, 9, [13])
        + at(1997, 10, [11])
        + at(1997, 11, [8])
        + at(1997, 12, [13])
        + at(1998, 1, [10])
        + at(1998, 2, [7])
        + at(1998, 3, [7])
        + at(1998, 4, [11])
        + at(1998, 5, [9])
        + at(1998, 6, [13]),
    ),
    (
        "us_election_day",
        "19961105T090000",
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        at(1996, 11, [5]) + at(2000, 11, [7]) + at(2004, 11, [2]),
    ),
    (
        "second_to_last_weekday",
        "19970929T090000",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        at(1997, 9, [29])
        + at(1997, 10, [30])
        + at(1997, 11, [27])
        + at(1997, 12, [30])
        + at(1998, 1, [29])
        + at(1998, 2, [26])
        + at(1998, 3, [30]),
    ),
]


@pytest.mark.parametrize(
    ("dtstart", "rule", "expected"), [c[1:] for c in FOREVER], ids=[c[0] for c in FOREVER]
)
def test_rfc5545_forever_examples(dtstart: str, rule: str, expected: list[datetime]) -> None:
    assert_same(series(f"{START}{dtstart}\nRRULE:{rule}", len(expected)), expected)


def test_rfc5545_friday_13th_with_exdate() -> None:
    expr = (
        f"{START}19970902T090000\nEXDATE;TZID=America/New_York:19970902T090000\n"
        "RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13"
    )
    expected = at(1998, 2, [13]) + at(1998, 3, [13]) + at(1998, 11, [13])
    assert_same(series(expr, 5), [*expected, *at(1999, 8, [13]), *at(2000, 10, [13])])


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
        "FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16",
    ],
    ids=["daily", "minutely"],
)
def test_rfc5545_every_20_minutes_in_office_hours(rule: str) -> None:
    got = series(f"{START}19970902T090000\nRRULE:{rule}", 48)
    day = [f"{h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 20, 40)]
    assert_same(got, [at(1997, 9, [d], t)[0] for d in (2, 3) for t in day])


def test_series_is_anchored_at_dtstart_not_at_the_query() -> None:
    anchor = datetime(2025, 1, 1, 8, 17, tzinfo=UTC)
    spec = ScheduleSpec(ScheduleKind.RRULE, "FREQ=HOURLY;INTERVAL=5", "UTC", anchor)
    firsts = [next_occurrence(spec, anchor + timedelta(minutes=k * 97)) for k in range(200)]
    for occurrence in firsts:
        assert occurrence is not None
        assert (occurrence.instant - anchor) % timedelta(hours=5) == timedelta(0)


def test_without_dtstart_the_spec_anchor_gives_the_time_of_day() -> None:
    anchor = datetime(2025, 5, 1, 7, 45, tzinfo=ZoneInfo("Europe/Chisinau"))
    spec = ScheduleSpec(ScheduleKind.RRULE, "FREQ=WEEKLY;BYDAY=MO", "Europe/Chisinau", anchor)
    got = next_occurrences(spec, datetime(2025, 6, 1, tzinfo=UTC), 2)
    assert [o.local.isoformat() for o in got] == [
        "2025-06-02T07:45:00+03:00",
        "2025-06-09T07:45:00+03:00",
    ]


def test_dtstart_in_utc_and_other_zone_become_task_wall_time() -> None:
    for dtstart in ("DTSTART:20250601T060000Z", "DTSTART;TZID=Asia/Tokyo:20250601T150000"):
        spec = ScheduleSpec(
            ScheduleKind.RRULE,
            f"{dtstart}\nRRULE:FREQ=DAILY;COUNT=2",
            "Europe/Chisinau",
            datetime(2020, 1, 1, tzinfo=UTC),
        )
        got = next_occurrences(spec, datetime(2025, 1, 1, tzinfo=UTC), 5)
        assert [o.local.isoformat() for o in got] == [
            "2025-06-01T09:00:00+03:00",
            "2025-06-02T09:00:00+03:00",
        ]


def test_exdate_and_rdate_in_several_spellings() -> None:
    expr = "\n".join(
        [
            "DTSTART:20250601T090000",
            "RRULE:FREQ=DAILY;COUNT=5",
            "EXDATE:20250602T090000",
            "EXDATE:20250603T060000Z",
            "EXDATE;TZID=Europe/Chisinau:20250604T090000",
            "RDATE:20250610T120000,20250611T120000",
            "RDATE;TZID=UTC:20250612T090000",
        ]
    )
    spec = ScheduleSpec(
        ScheduleKind.RRULE, expr, "Europe/Chisinau", datetime(2020, 1, 1, tzinfo=UTC)
    )
    got = next_occurrences(spec, datetime(2025, 1, 1, tzinfo=UTC), 10)
    assert [o.local.strftime("%m-%d %H:%M") for o in got] == [
        "06-01 09:00",
        "06-05 09:00",
        "06-10 12:00",
        "06-11 12:00",
        "06-12 12:00",
    ]
    assert is_finite(spec)


def test_bare_rule_and_lowercase_and_folded_lines() -> None:
    base = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
    exprs = ["FREQ=DAILY;COUNT=3", "rrule:freq=daily;count=3", "RRULE:FREQ=DAILY;\n COUNT=3"]
    specs = [ScheduleSpec(ScheduleKind.RRULE, e, "UTC", base) for e in exprs]
    got = {tuple(o.instant for o in next_occurrences(s, base - timedelta(1), 9)) for s in specs}
    assert got == {(base, base + timedelta(days=1), base + timedelta(days=2))}


def test_exhausted_series_gives_nothing_and_is_finite() -> None:
    base = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
    spec = ScheduleSpec(ScheduleKind.RRULE, "FREQ=DAILY;COUNT=3", "UTC", base)
    assert next_occurrences(spec, base + timedelta(days=2), 5) == []
    assert is_finite(spec)
    assert not is_finite(ScheduleSpec(ScheduleKind.RRULE, "FREQ=DAILY", "UTC", base))


def test_long_series_query_does_not_walk_from_dtstart() -> None:
    """Walking 25 years of 7-second steps would take minutes: the query restarts the series
    one period before the query instead, keeping its phase."""
    anchor = datetime(2000, 1, 1, tzinfo=UTC)
    spec = ScheduleSpec(ScheduleKind.RRULE, "FREQ=SECONDLY;INTERVAL=7", "UTC", anchor)
    query = datetime(2025, 6, 1, 12, 0, 1, tzinfo=UTC)
    [rule] = compile_recurrence(spec.expr, "UTC", anchor.replace(tzinfo=None)).rules
    walked_from = _rule_after(rule, query.replace(tzinfo=None))._dtstart
    assert query.replace(tzinfo=None) - walked_from <= timedelta(seconds=14)
    found = next_occurrence(spec, query)
    assert found is not None
    assert (found.instant - anchor).total_seconds() % 7 == 0
    assert found.instant - query <= timedelta(seconds=7)


def test_large_count_is_compiled_once() -> None:
    """A COUNT is turned into its UNTIL once, when the rule is compiled; later queries reuse
    the compiled rule instead of counting 100 000 occurrences again."""
    anchor = datetime(2024, 1, 1, tzinfo=UTC)
    spec = ScheduleSpec(ScheduleKind.RRULE, "FREQ=MINUTELY;COUNT=100000", "UTC", anchor)
    compile_recurrence.cache_clear()
    for day in range(50):
        assert next_occurrence(spec, anchor + timedelta(days=day, seconds=30)) is not None
    assert next_occurrence(spec, anchor + timedelta(minutes=99_999)) is None
    assert compile_recurrence.cache_info().misses == 1


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("FREQ=DAILY;BYMONTH=13", "BYMONTH=13: month must be 1..12"),
        ("FREQ=DAILY;BYMONTH=1,13", "BYMONTH=1,13: month must be 1..12 (got '13')"),
        ("FREQ=DAILY;BYHOUR=25", "BYHOUR=25: hour must be 0..23"),
        ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE=60: minute must be 0..59"),
        ("FREQ=DAILY;BYSECOND=61", "BYSECOND=61: second must be 0..59"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0: day of month must be 1..31 or -31..-1"),
        ("FREQ=YEARLY;BYYEARDAY=367", "BYYEARDAY=367: day of year must be 1..366 or -366..-1"),
        ("FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO=54: week number must be 1..53 or -53..-1"),
        ("FREQ=FOO", "FREQ=FOO: must be one of SECONDLY, MINUTELY"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL=0: must be a positive integer"),
        ("FREQ=DAILY;COUNT=x", "COUNT=X: must be a positive integer"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", "BYSETPOS=0: set position must be 1..366"),
        ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS=1: needs another BYxxx part"),
        ("FREQ=DAILY;FOO=1", "FOO=1: unknown RRULE part"),
        ("FREQ=DAILY;BYEASTER=0", "BYEASTER=0: unknown RRULE part"),
        ("FREQ=WEEKLY;WKST=XX", "WKST=XX: must be one of MO, TU"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("BYHOUR=9", "needs FREQ"),
        ("FREQ=DAILY;BYHOUR", "must look like NAME=VALUE"),
        ("FREQ=DAILY;BYHOUR=", "BYHOUR=: needs a value"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20250101T000000Z", "COUNT and UNTIL cannot both be given"),
        ("FREQ=DAILY;UNTIL=2025", "UNTIL:2025: not a date"),
        ("FREQ=DAILY;UNTIL=20251332", "UNTIL:20251332: month must be in 1..12"),
        ("FREQ=WEEKLY;BYDAY=1FR", "an ordinal weekday needs FREQ=MONTHLY or YEARLY"),
        ("FREQ=MONTHLY;BYDAY=FX", "'FX' is not a weekday"),
        ("FREQ=MONTHLY;BYDAY=0MO", "the ordinal in '0MO' must be 1..53"),
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO", "no ordinal weekdays together with BYWEEKNO"),
        ("FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO=1: only allowed with FREQ=YEARLY"),
        ("FREQ=MONTHLY;BYYEARDAY=1", "BYYEARDAY=1: not allowed with this FREQ"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY=1: not allowed with FREQ=WEEKLY"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "RRULE never matches a date within 100 years"),
        ("DTSTART:20250101T090000", "needs a rule"),
        ("DTSTART;TZID=Mars/Olympus:20250101T090000\nRRULE:FREQ=DAILY", "unknown time zone"),
        ("DTSTART;TZID=UTC:20250101T090000Z\nRRULE:FREQ=DAILY", "cannot also have a TZID"),
        ("DTSTART:20250101T090000\nDTSTART:20250102T090000\nFREQ=DAILY", "more than once"),
        ("EXRULE:FREQ=DAILY\nRRULE:FREQ=DAILY", "EXRULE was removed"),
        ("VEVENT:x\nRRULE:FREQ=DAILY", "VEVENT: unknown line"),
        ("RDATE;VALUE=PERIOD:20250101T090000/PT1H\nRRULE:FREQ=DAILY", "is not supported"),
    ],
)
def test_invalid_rrule_is_refused_naming_the_part(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_schedule(ScheduleKind.RRULE, expr, "UTC")
    assert message in caught.value.message
    assert caught.value.field_name == "schedule_expr"


def test_bysetpos_and_hourly_combination_dateutil_rejects_is_a_schedule_error() -> None:
    spec = ScheduleSpec(
        ScheduleKind.RRULE,
        "DTSTART:20250101T000000\nFREQ=HOURLY;INTERVAL=2;BYHOUR=3",
        "UTC",
        datetime(2025, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ScheduleError, match="RRULE cannot be evaluated"):
        next_occurrences(spec, datetime(2025, 1, 1, tzinfo=UTC), 1)
