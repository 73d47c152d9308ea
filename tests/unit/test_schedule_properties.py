"""Properties over random crons, rules, zones and policies, checked against a plain model.

The model maps every wall time of the series on its own (fold 0/1, shift or skip), then sorts
and de-duplicates: whatever order the library emits in, it must equal that.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ordinaut.core.states import DstGap, DstOverlap, ScheduleKind
from ordinaut.scheduling import ScheduleSpec, next_occurrences

ZONES = [
    "Europe/Chisinau",
    "America/New_York",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
    "Pacific/Chatham",
]
COUNT = 6


def transitions(zone: str) -> list[datetime]:
    """Instants in 2024-2026 where the zone's offset changes (found by day, then by hour)."""
    tz, found = ZoneInfo(zone), []
    day = datetime(2024, 1, 1, tzinfo=UTC)
    while day.year < 2027:
        if (day + timedelta(days=1)).astimezone(tz).utcoffset() != day.astimezone(tz).utcoffset():
            before = day.astimezone(tz).utcoffset()
            hours = (day + timedelta(hours=h) for h in range(25))
            found.append(next(h for h in hours if h.astimezone(tz).utcoffset() != before))
        day += timedelta(days=1)
    return found or [datetime(2025, 6, 1, tzinfo=UTC)]


TRANSITIONS = {zone: transitions(zone) for zone in ZONES}


def model(walls: list[datetime], zone: str, gap: DstGap, overlap: DstOverlap) -> list[datetime]:
    tz, instants = ZoneInfo(zone), set()
    for wall in walls:
        early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
        if early.astimezone(tz).replace(tzinfo=None) != wall:  # in a gap
            if gap is DstGap.SHIFT:
                instants.add(early)
        elif early == late or overlap is DstOverlap.FIRST:
            instants.add(early)
        elif overlap is DstOverlap.LAST:
            instants.add(late)
        else:
            instants |= {early, late}
    return sorted(instants)


crons = st.builds(
    lambda m, h, dom, dow: f"{m} {h} {dom} * {dow}",
    st.sampled_from(["0", "30", "*/15", "0,45", "10-20/5", "*/7"]),
    st.sampled_from(["*", "1", "2", "3", "1-3", "*/2", "0,2,23"]),
    st.sampled_from(["*", "*", "1-31/2", "15"]),
    st.sampled_from(["*", "*", "1-5", "0", "SAT,SUN"]),
)
rules = st.builds(
    lambda freq, interval, hours, minutes: ";".join(
        p for p in (f"FREQ={freq}", f"INTERVAL={interval}", hours, minutes) if p
    ),
    st.sampled_from(["DAILY", "WEEKLY", "HOURLY", "MINUTELY"]),
    st.integers(1, 3),
    st.sampled_from(["", "BYHOUR=1,2,3", "BYHOUR=2", "BYHOUR=0,12"]),
    st.sampled_from(["", "BYMINUTE=0,30", "BYMINUTE=15", "BYMINUTE=0,20,40"]),
)


def window(zone: str, pick: int, hours: float) -> datetime:
    options = TRANSITIONS[zone]
    return options[pick % len(options)] + timedelta(hours=hours)


def check(spec: ScheduleSpec, after: datetime, walls: list[datetime]) -> None:
    got = next_occurrences(spec, after, COUNT)
    expected = [i for i in model(walls, spec.timezone, spec.dst_gap, spec.dst_overlap) if i > after]
    assert [o.instant for o in got] == expected[:COUNT]
    tz = ZoneInfo(spec.timezone)
    for previous, occurrence in zip([None, *got], got, strict=False):
        assert occurrence.instant.tzinfo is UTC
        assert occurrence.local.astimezone(UTC) == occurrence.instant
        assert occurrence.local.utcoffset() == occurrence.instant.astimezone(tz).utcoffset()
        assert occurrence.local.replace(tzinfo=None) == occurrence.instant.astimezone(tz).replace(
            tzinfo=None
        )
        assert previous is None or previous.instant < occurrence.instant


policies = (st.sampled_from(list(DstGap)), st.sampled_from(list(DstOverlap)))
common = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(crons, st.sampled_from(ZONES), st.integers(0, 50), st.floats(-30, 30), *policies)
def test_cron_occurrences_match_the_model(
    expr: str, zone: str, pick: int, hours: float, gap: DstGap, overlap: DstOverlap
) -> None:
    after = window(zone, pick, hours)
    spec = ScheduleSpec(ScheduleKind.CRON, expr, zone, after, gap, overlap)
    start = after.astimezone(ZoneInfo(zone)).replace(tzinfo=None) - timedelta(hours=3)
    it = croniter(expr, start, ret_type=datetime)
    walls = [it.get_next(datetime) for _ in range(300)]
    check(spec, after, walls)


@common
@given(
    rules,
    st.sampled_from(ZONES),
    st.integers(0, 50),
    st.floats(-30, 30),
    st.integers(0, 400),
    *policies,
)
def test_rrule_occurrences_match_the_model(
    rule: str, zone: str, pick: int, hours: float, back: int, gap: DstGap, overlap: DstOverlap
) -> None:
    after = window(zone, pick, hours)
    dtstart = (after - timedelta(hours=back * 7.3)).replace(second=0, microsecond=0)
    spec = ScheduleSpec(ScheduleKind.RRULE, rule, zone, dtstart, gap, overlap)
    local_start = dtstart.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    after_wall = after.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    try:
        series = iter(rrulestr(rule, dtstart=local_start))
    except ValueError:  # e.g. MINUTELY;INTERVAL=2;BYMINUTE=0,30 from an odd minute
        assume(False)
    walls, beyond = [], 0
    for wall in series:  # brute force from DTSTART
        walls.append(wall)
        beyond += wall > after_wall
        if beyond > 100:
            break
    check(spec, after, walls)
