"""Preview entries, one-shot schedules, and validation of every kind through the public API."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ordinaut.core.errors import ScheduleError
from ordinaut.core.states import DstGap, ScheduleKind
from ordinaut.scheduling import (
    ScheduleSpec,
    anchor_dtstart,
    is_finite,
    next_occurrence,
    next_occurrences,
    preview,
    validate_schedule,
)

AFTER = datetime(2025, 3, 30, 1, 0, tzinfo=timezone(timedelta(hours=2)))


def test_preview_entries_carry_local_utc_offset_and_note() -> None:
    spec = ScheduleSpec(
        ScheduleKind.RRULE, "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "Europe/Chisinau", AFTER
    )
    assert preview(spec, AFTER, 2) == [
        {
            "local": "2025-03-30T03:30:00+03:00",
            "utc": "2025-03-30T00:30:00Z",
            "offset": "+03:00",
            "note": "shifted: 02:30 does not exist on 2025-03-30 (DST gap); runs at 03:30",
        },
        {
            "local": "2025-03-31T02:30:00+03:00",
            "utc": "2025-03-30T23:30:00Z",
            "offset": "+03:00",
            "note": None,
        },
    ]


def test_preview_notes_a_skip_on_the_next_entry_and_emits_no_empty_entry() -> None:
    spec = ScheduleSpec(
        ScheduleKind.CRON, "30 2 * * *", "Europe/Chisinau", AFTER, dst_gap=DstGap.SKIP
    )
    (entry,) = preview(spec, AFTER, 1)
    assert entry["local"] == "2025-03-31T02:30:00+03:00"
    assert entry["note"] == "skipped 2025-03-30 02:30 (DST gap)"


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("Australia/Lord_Howe", "+10:30"), ("America/St_Johns", "-02:30"), ("UTC", "+00:00")],
)
def test_preview_offsets_with_half_hours_and_negatives(zone: str, offset: str) -> None:
    after = datetime(2025, 6, 1, tzinfo=UTC)
    (entry,) = preview(ScheduleSpec(ScheduleKind.CRON, "0 12 * * *", zone, after), after, 1)
    assert entry["offset"] == offset
    assert str(entry["local"]).endswith(offset)


def test_once_with_offset_and_z() -> None:
    after = datetime(2025, 1, 1, tzinfo=UTC)
    for expr in ("2025-06-01T09:00:00+03:00", "2025-06-01T06:00:00Z"):
        spec = ScheduleSpec(ScheduleKind.ONCE, expr, "Europe/Chisinau", after)
        found = next_occurrence(spec, after)
        assert found is not None
        assert found.instant == datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
        assert found.local.isoformat() == "2025-06-01T09:00:00+03:00"
        assert is_finite(spec)


def test_once_at_or_before_the_query_gives_nothing() -> None:
    spec = ScheduleSpec(ScheduleKind.ONCE, "2025-06-01T06:00:00Z", "UTC", AFTER)
    assert next_occurrences(spec, datetime(2025, 6, 1, 6, 0, tzinfo=UTC), 3) == []
    assert len(next_occurrences(spec, datetime(2025, 6, 1, 5, 59, tzinfo=UTC), 3)) == 1


def test_event_and_condition_have_no_clock_occurrences() -> None:
    for kind, expr in ((ScheduleKind.EVENT, "orders.created"), (ScheduleKind.CONDITION, "a > `1`")):
        spec = ScheduleSpec(kind, expr, "UTC", AFTER)
        assert next_occurrences(spec, AFTER, 5) == []
        assert not is_finite(spec)


def test_anchor_zeroes_seconds_and_requires_aware() -> None:
    created = datetime(2025, 3, 29, 12, 34, 56, 789, tzinfo=UTC)
    assert anchor_dtstart(created) == datetime(2025, 3, 29, 12, 34, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        anchor_dtstart(created.replace(tzinfo=None))
    with pytest.raises(ValueError, match="aware"):
        next_occurrences(
            ScheduleSpec(ScheduleKind.CRON, "* * * * *", "UTC", created),
            created.replace(tzinfo=None),
            1,
        )


@pytest.mark.parametrize(
    ("kind", "expr", "zone", "field", "fragment"),
    [
        ("cron", "0 9 * * *", "Mars/Olympus", "timezone", "unknown time zone 'Mars/Olympus'"),
        ("cron", "0 9 * * *", "", "timezone", "is not an IANA name"),
        ("cron", "0 9 * * *", "../etc/passwd", "timezone", "unknown time zone"),
        ("weekly", "x", "UTC", "schedule_kind", "unknown schedule kind 'weekly'"),
        ("once", "tomorrow", "UTC", "schedule_expr", "once: 'tomorrow' is not an ISO-8601"),
        ("once", "2025-02-30T09:00", "UTC", "schedule_expr", "is not an ISO-8601"),
        ("event", "", "UTC", "schedule_expr", "event topic must not be empty"),
        ("event", "a b", "UTC", "schedule_expr", "must not contain whitespace"),
        ("event", "x" * 201, "UTC", "schedule_expr", "at most 200"),
        ("condition", "a ==", "UTC", "schedule_expr", "not a valid JMESPath expression"),
        ("condition", "", "UTC", "schedule_expr", "not a valid JMESPath expression"),
    ],
)
def test_validation_names_the_field(
    kind: str, expr: str, zone: str, field: str, fragment: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_schedule(kind, expr, zone)
    assert caught.value.field_name == field
    assert fragment in caught.value.message
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("kind", "expr"),
    [
        ("cron", "30 8 * * 1-5"),
        ("rrule", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("once", "2025-06-01T09:00"),
        ("event", "orders.created"),
        ("condition", "payload.amount > `100`"),
    ],
)
def test_valid_schedules_pass(kind: str, expr: str) -> None:
    validate_schedule(kind, expr, "America/Argentina/Buenos_Aires")
