"""DST: gaps and overlaps under every policy, in zones with different rules."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ordinaut.core.states import DstGap, DstOverlap, ScheduleKind
from ordinaut.scheduling import ScheduleSpec, anchor_dtstart, next_occurrence, next_occurrences


def offset(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


def spec(
    kind: str,
    expr: str,
    zone: str,
    dtstart: datetime,
    gap: DstGap = DstGap.SHIFT,
    overlap: DstOverlap = DstOverlap.FIRST,
) -> ScheduleSpec:
    return ScheduleSpec(ScheduleKind(kind), expr, zone, dtstart, gap, overlap)


def locals_after(s: ScheduleSpec, after: datetime, count: int) -> list[str]:
    return [o.local.isoformat() for o in next_occurrences(s, after, count)]


NINE = "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"


def test_chisinau_nine_am_across_spring_forward() -> None:
    after = datetime(2025, 3, 29, 12, 0, tzinfo=offset(2))
    got = next_occurrence(spec("rrule", NINE, "Europe/Chisinau", after), after)
    assert got is not None
    assert got.local.isoformat() == "2025-03-30T09:00:00+03:00"
    assert got.instant == datetime(2025, 3, 30, 6, 0, tzinfo=UTC)
    assert got.note is None


def test_chisinau_nine_am_across_fall_back() -> None:
    after = datetime(2025, 10, 25, 12, 0, tzinfo=offset(3))
    got = next_occurrence(spec("rrule", NINE, "Europe/Chisinau", after), after)
    assert got is not None
    assert got.local.isoformat() == "2025-10-26T09:00:00+02:00"


def test_no_seconds_leak_from_query_or_creation_time() -> None:
    created = datetime(2025, 3, 29, 12, 34, 56, 789, tzinfo=offset(2))
    s = spec("rrule", NINE, "Europe/Chisinau", anchor_dtstart(created))
    assert locals_after(s, created, 2) == ["2025-03-30T09:00:00+03:00", "2025-03-31T09:00:00+03:00"]
    cron = spec("cron", "0 9 * * *", "Europe/Chisinau", created)
    assert locals_after(cron, created, 1) == ["2025-03-30T09:00:00+03:00"]


def test_dtstart_seconds_carry_into_a_rule_without_bysecond() -> None:
    s = spec("rrule", NINE, "UTC", datetime(2025, 1, 1, 0, 0, 7, tzinfo=UTC))
    assert locals_after(s, datetime(2025, 1, 1, tzinfo=UTC), 1) == ["2025-01-01T09:00:07+00:00"]


HALF_TWO = "FREQ=DAILY;BYHOUR=2;BYMINUTE=30"


def test_chisinau_gap_shift_runs_after_the_jump() -> None:
    after = datetime(2025, 3, 30, 1, 0, tzinfo=offset(2))
    (got,) = next_occurrences(spec("rrule", HALF_TWO, "Europe/Chisinau", after), after, 1)
    assert got.local.isoformat() == "2025-03-30T03:30:00+03:00"
    assert got.note == "shifted: 02:30 does not exist on 2025-03-30 (DST gap); runs at 03:30"


def test_chisinau_gap_skip_runs_next_day() -> None:
    after = datetime(2025, 3, 30, 1, 0, tzinfo=offset(2))
    s = spec("rrule", HALF_TWO, "Europe/Chisinau", after, gap=DstGap.SKIP)
    (got,) = next_occurrences(s, after, 1)
    assert got.local.isoformat() == "2025-03-31T02:30:00+03:00"
    assert got.note == "skipped 2025-03-30 02:30 (DST gap)"


# (zone, cron, after, policy, expected local times)
CASES = [
    (
        "America/New_York",
        "30 2 * * *",
        datetime(2025, 3, 9, 0, 0, tzinfo=offset(-5)),
        DstGap.SHIFT,
        DstOverlap.FIRST,
        ["2025-03-09T03:30:00-04:00", "2025-03-10T02:30:00-04:00"],
    ),
    (
        "America/New_York",
        "30 2 * * *",
        datetime(2025, 3, 9, 0, 0, tzinfo=offset(-5)),
        DstGap.SKIP,
        DstOverlap.FIRST,
        ["2025-03-10T02:30:00-04:00", "2025-03-11T02:30:00-04:00"],
    ),
    (
        "America/New_York",
        "30 1 * * *",
        datetime(2025, 11, 2, 0, 0, tzinfo=offset(-4)),
        DstGap.SHIFT,
        DstOverlap.FIRST,
        ["2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"],
    ),
    (
        "America/New_York",
        "30 1 * * *",
        datetime(2025, 11, 2, 0, 0, tzinfo=offset(-4)),
        DstGap.SHIFT,
        DstOverlap.LAST,
        ["2025-11-02T01:30:00-05:00", "2025-11-03T01:30:00-05:00"],
    ),
    (
        "America/New_York",
        "30 1 * * *",
        datetime(2025, 11, 2, 0, 0, tzinfo=offset(-4)),
        DstGap.SHIFT,
        DstOverlap.BOTH,
        ["2025-11-02T01:30:00-04:00", "2025-11-02T01:30:00-05:00", "2025-11-03T01:30:00-05:00"],
    ),
    # Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 in October, back in April.
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        datetime(2025, 10, 4, 12, 0, tzinfo=offset(10.5)),
        DstGap.SHIFT,
        DstOverlap.FIRST,
        ["2025-10-05T02:45:00+11:00", "2025-10-06T02:15:00+11:00"],
    ),
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        datetime(2025, 10, 4, 12, 0, tzinfo=offset(10.5)),
        DstGap.SKIP,
        DstOverlap.FIRST,
        ["2025-10-06T02:15:00+11:00", "2025-10-07T02:15:00+11:00"],
    ),
    (
        "Australia/Lord_Howe",
        "45 1 * * *",
        datetime(2025, 4, 5, 12, 0, tzinfo=offset(11)),
        DstGap.SHIFT,
        DstOverlap.FIRST,
        ["2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30"],
    ),
    (
        "Australia/Lord_Howe",
        "45 1 * * *",
        datetime(2025, 4, 5, 12, 0, tzinfo=offset(11)),
        DstGap.SHIFT,
        DstOverlap.LAST,
        ["2025-04-06T01:45:00+10:30", "2025-04-07T01:45:00+10:30"],
    ),
    (
        "Australia/Lord_Howe",
        "45 1 * * *",
        datetime(2025, 4, 5, 12, 0, tzinfo=offset(11)),
        DstGap.SHIFT,
        DstOverlap.BOTH,
        ["2025-04-06T01:45:00+11:00", "2025-04-06T01:45:00+10:30", "2025-04-07T01:45:00+10:30"],
    ),
    (
        "Europe/Chisinau",
        "30 2 * * *",
        datetime(2025, 10, 26, 0, 0, tzinfo=offset(3)),
        DstGap.SHIFT,
        DstOverlap.BOTH,
        ["2025-10-26T02:30:00+03:00", "2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+02:00"],
    ),
]
IDS = [
    "ny_gap_shift",
    "ny_gap_skip",
    "ny_overlap_first",
    "ny_overlap_last",
    "ny_overlap_both",
    "lord_howe_gap_shift",
    "lord_howe_gap_skip",
    "lord_howe_overlap_first",
    "lord_howe_overlap_last",
    "lord_howe_overlap_both",
    "chisinau_overlap_both",
]


@pytest.mark.parametrize(("zone", "expr", "after", "gap", "overlap", "expected"), CASES, ids=IDS)
@pytest.mark.parametrize("kind", ["cron", "rrule"])
def test_policies_across_zones(
    kind: str,
    zone: str,
    expr: str,
    after: datetime,
    gap: DstGap,
    overlap: DstOverlap,
    expected: list[str],
) -> None:
    minute, hour = expr.split()[:2]
    text = expr if kind == "cron" else f"FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}"
    s = spec(kind, text, zone, after - timedelta(days=3), gap, overlap)
    assert locals_after(s, after, len(expected)) == expected


def test_shifted_times_landing_on_real_ones_run_once_in_order() -> None:
    # 02:00/02:20/02:40 shift onto 03:00/03:20/03:40, which the cron also names.
    after = datetime(2025, 3, 9, 1, 0, tzinfo=offset(-5))
    s = spec("cron", "*/20 2,3 * * *", "America/New_York", after)
    got = next_occurrences(s, after, 4)
    assert [o.local.strftime("%d %H:%M%z") for o in got] == [
        "09 03:00-0400",
        "09 03:20-0400",
        "09 03:40-0400",
        "10 02:00-0400",
    ]


def test_shifted_times_interleave_with_later_real_ones() -> None:
    # A 2-hour-wide minutely window: shifted 02:xx must sort between real 03:xx entries.
    after = datetime(2025, 3, 9, 1, 50, tzinfo=offset(-5))
    s = spec("cron", "50 1,2 * * *", "America/New_York", after)
    cron_times = [o.local.isoformat() for o in next_occurrences(s, after, 2)]
    assert cron_times == ["2025-03-09T03:50:00-04:00", "2025-03-10T01:50:00-04:00"]


def test_both_keeps_instants_increasing_within_an_overlap() -> None:
    after = datetime(2025, 11, 2, 0, 0, tzinfo=offset(-4))
    s = spec("cron", "*/20 1 * * *", "America/New_York", after, overlap=DstOverlap.BOTH)
    got = next_occurrences(s, after, 7)
    instants = [o.instant for o in got]
    assert instants == sorted(set(instants))
    assert [o.local.strftime("%H:%M%z") for o in got] == [
        "01:00-0400",
        "01:20-0400",
        "01:40-0400",
        "01:00-0500",
        "01:20-0500",
        "01:40-0500",
        "01:00-0500",
    ]
    assert got[3].note == "repeated: 01:00 occurs twice on 2025-11-02 (DST overlap); second of both"


@pytest.mark.parametrize(
    ("gap", "expected"),
    [(DstGap.SHIFT, ["2025-03-30T03:30:00+03:00"]), (DstGap.SKIP, [])],
    ids=["shift", "skip"],
)
def test_naive_once_goes_through_the_gap_policy(gap: DstGap, expected: list[str]) -> None:
    after = datetime(2025, 3, 1, tzinfo=UTC)
    s = spec("once", "2025-03-30T02:30:00", "Europe/Chisinau", after, gap=gap)
    assert locals_after(s, after, 5) == expected


@pytest.mark.parametrize(
    ("overlap", "expected"),
    [
        (DstOverlap.FIRST, ["2025-10-26T02:30:00+03:00"]),
        (DstOverlap.LAST, ["2025-10-26T02:30:00+02:00"]),
        (DstOverlap.BOTH, ["2025-10-26T02:30:00+03:00", "2025-10-26T02:30:00+02:00"]),
    ],
    ids=["first", "last", "both"],
)
def test_naive_once_goes_through_the_overlap_policy(
    overlap: DstOverlap, expected: list[str]
) -> None:
    after = datetime(2025, 10, 1, tzinfo=UTC)
    s = spec("once", "2025-10-26T02:30", "Europe/Chisinau", after, overlap=overlap)
    assert locals_after(s, after, 5) == expected


def test_skip_note_only_for_gaps_after_the_query() -> None:
    after = datetime(2025, 3, 30, 5, 0, tzinfo=offset(3))
    s = spec("rrule", HALF_TWO, "Europe/Chisinau", after - timedelta(days=5), gap=DstGap.SKIP)
    (got,) = next_occurrences(s, after, 1)
    assert got.note is None
