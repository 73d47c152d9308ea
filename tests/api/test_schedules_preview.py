"""POST /schedules/preview: any schedule's next occurrences, with DST notes, or a 422."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from conftest import Caller, MakeAgent


async def preview(client: httpx.AsyncClient, caller: Caller, **body: Any) -> httpx.Response:
    return await client.post("/schedules/preview", json=body, headers=caller.headers)


async def test_cron_across_spring_forward_is_shifted_and_noted(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    response = await preview(
        client,
        alice,
        schedule_kind="cron",
        schedule_expr="30 2 * * *",
        timezone="America/New_York",
        after="2025-03-08T12:00:00Z",
        count=3,
    )
    assert response.status_code == 200, response.text
    occurrences = response.json()["occurrences"]
    assert [o["utc"] for o in occurrences] == [
        "2025-03-09T07:30:00Z",  # 02:30 does not exist: shifted to 03:30 EDT
        "2025-03-10T06:30:00Z",
        "2025-03-11T06:30:00Z",
    ]
    assert occurrences[0]["local"] == "2025-03-09T03:30:00-04:00"
    assert occurrences[0]["offset"] == "-04:00"
    assert occurrences[0]["note"]
    assert occurrences[1]["note"] is None


async def test_dst_policies_are_honoured(client: httpx.AsyncClient, alice: Caller) -> None:
    common = {
        "schedule_kind": "cron",
        "schedule_expr": "30 1 * * *",
        "timezone": "America/New_York",
        "after": "2025-11-01T12:00:00Z",
        "count": 2,
    }
    both = await preview(client, alice, **common, dst_overlap="both")
    utcs = [o["utc"] for o in both.json()["occurrences"]]
    assert utcs == ["2025-11-02T05:30:00Z", "2025-11-02T06:30:00Z"]  # 01:30 EDT and EST
    gap = common | {"schedule_expr": "30 2 * * *", "after": "2025-03-08T12:00:00Z"}
    skip = await preview(client, alice, **gap, dst_gap="skip")
    assert skip.json()["occurrences"][0]["utc"] == "2025-03-10T06:30:00Z"


async def test_rrule_and_once_and_defaults(client: httpx.AsyncClient, alice: Caller) -> None:
    rrule = await preview(
        client,
        alice,
        schedule_kind="rrule",
        schedule_expr="DTSTART:20250101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2",
        timezone="Europe/Chisinau",
        after="2024-12-01T00:00:00Z",
    )
    assert [o["local"] for o in rrule.json()["occurrences"]] == [
        "2025-01-06T09:00:00+02:00",
        "2025-01-13T09:00:00+02:00",
    ]
    once = await preview(
        client, alice, schedule_kind="once", schedule_expr="2999-01-01T10:00:00+00:00"
    )
    assert once.json()["occurrences"] == [
        {
            "local": "2999-01-01T10:00:00+00:00",
            "utc": "2999-01-01T10:00:00Z",
            "offset": "+00:00",
            "note": None,
        }
    ]
    default_count = await preview(client, alice, schedule_kind="cron", schedule_expr="* * * * *")
    assert len(default_count.json()["occurrences"]) == 10


async def test_refusals_name_the_field(client: httpx.AsyncClient, alice: Caller) -> None:
    cron = {"schedule_kind": "cron", "schedule_expr": "0 9 * * *"}
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (cron | {"schedule_expr": "0 25 * * *"}, ["body", "schedule_expr"]),
        (cron | {"timezone": "Atlantis/Capital"}, ["body", "timezone"]),
        (cron | {"count": 0}, ["body", "count"]),
        (cron | {"count": 1001}, ["body", "count"]),
        (cron | {"after": "2025-01-01T00:00:00"}, ["body", "after"]),  # no offset
        (cron | {"after": "9999-12-31T00:00:00Z"}, ["body", "after"]),
        (cron | {"dst_gap": "never"}, ["body", "dst_gap"]),
        ({"schedule_kind": "event", "schedule_expr": "topic"}, ["body", "schedule_kind"]),
        ({"schedule_expr": "0 9 * * *"}, ["body", "schedule_kind"]),
        (cron | {"extra": 1}, ["body", "extra"]),
    ]
    for body, loc in cases:
        response = await client.post("/schedules/preview", json=body, headers=alice.headers)
        assert response.status_code == 422, (body, response.text)
        assert loc in [e["loc"] for e in response.json()["errors"]], (body, response.text)


async def test_preview_needs_tasks_read(client: httpx.AsyncClient, make_agent: MakeAgent) -> None:
    body = {"schedule_kind": "cron", "schedule_expr": "0 9 * * *"}
    tools_only = await make_agent("tools-only", ["tools:read"])
    refused = await client.post("/schedules/preview", json=body, headers=tools_only.headers)
    assert refused.status_code == 403
    assert (await client.post("/schedules/preview", json=body)).status_code == 401


async def test_a_preview_of_the_past_anchors_the_series_there(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    """The issue's facts: Chisinau across both 2025 DST changes, RRULE anchored at `after`."""
    spring = await preview(
        client,
        alice,
        schedule_kind="rrule",
        schedule_expr="FREQ=DAILY;BYHOUR=9;BYMINUTE=0",
        timezone="Europe/Chisinau",
        after="2025-03-29T12:00:00+02:00",
        count=1,
    )
    assert spring.json()["occurrences"][0]["local"] == "2025-03-30T09:00:00+03:00"
    autumn = await preview(
        client,
        alice,
        schedule_kind="rrule",
        schedule_expr="FREQ=DAILY;BYHOUR=9;BYMINUTE=0",
        timezone="Europe/Chisinau",
        after="2025-10-25T12:00:00+03:00",
        count=1,
    )
    assert autumn.json()["occurrences"][0]["local"] == "2025-10-26T09:00:00+02:00"
    gap = await preview(
        client,
        alice,
        schedule_kind="rrule",
        schedule_expr="FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
        timezone="Europe/Chisinau",
        after="2025-03-30T01:00:00+02:00",
        count=1,
    )
    first = gap.json()["occurrences"][0]
    assert first["local"] == "2025-03-30T03:30:00+03:00"
    assert "shifted" in first["note"]
