"""What a change announces, written with the change: audit rows, outbox events and NOTIFYs.

A unit of work (`ordinaut.services.context`) collects an `Announcement` and hands it here just
before its commit. On PostgreSQL it is one statement however much it says, and a single write
can carry it in the same statement (`announce(..., carrier=...)`): a unit of work that is one
write then costs one round trip in autocommit, with no BEGIN and no COMMIT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.bulk import driver_of, json_rows
from ordinaut.store.channels import OUTBOX_PENDING
from ordinaut.store.outbox import (
    CORE_STREAM,
    OutboxEvent,
    outbox_insert_many,
    outbox_insert_select,
)
from ordinaut.store.schema import audit_log

Carrier = tuple[str, dict[str, Any]]
"""(`INSERT ...` or `UPDATE ...` in psycopg style, its parameters): a write that carries an
announcement as a data-modifying CTE of the same statement."""


@dataclass
class Announcement:
    """Audit rows, events and channels to NOTIFY, in the order they were collected."""

    actor: str | None
    request_id: str | None
    now: datetime
    audits: list[dict[str, Any]] = field(default_factory=list)
    events: list[OutboxEvent] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.audits or self.events or self.notified)

    @property
    def notified(self) -> list[str]:
        """Channels to NOTIFY: the relay polls other processes, so the outbox needs none."""
        return sorted(self.channels - {OUTBOX_PENDING})

    def audit(
        self, action: str, subject_type: str, subject_id: str | None, details: dict[str, Any]
    ) -> None:
        self.audits.append(
            {
                "actor": self.actor,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "details": details,
            }
        )


async def announce(
    conn: AsyncConnection, announcement: Announcement, *, carrier: Carrier | None = None
) -> None:
    """Write `announcement`; with a `carrier` (PostgreSQL only), in the carrier's statement."""
    if conn.dialect.name == "postgresql":
        if announcement or carrier is not None:
            sql, params = _announce_postgresql(announcement, carrier)
            await (await driver_of(conn)).execute(sql, params)
        return
    if carrier is not None:
        raise ValueError("a carrier statement is for PostgreSQL")
    if announcement.audits:
        extra = {"request_id": announcement.request_id, "created_at": announcement.now}
        await conn.execute(audit_log.insert(), [row | extra for row in announcement.audits])
    await outbox_insert_many(conn, announcement.events, announcement.now)


_AUDIT_ROWS = """
    INSERT INTO audit_log (actor, action, subject_type, subject_id, details, request_id,
                           created_at)
    SELECT actor, action, subject_type, subject_id, details, %(request_id)s, %(outbox_created_at)s
    FROM ROWS FROM (jsonb_to_recordset(%(audits)s::jsonb)
                    AS (actor text, action text, subject_type text, subject_id text,
                        details jsonb))
         WITH ORDINALITY AS a(actor, action, subject_type, subject_id, details, n)
    ORDER BY n
"""
_EVENT_ROWS = """
    SELECT event_type, task_id, payload
    FROM ROWS FROM (jsonb_to_recordset(%(events)s::jsonb)
                    AS (event_type text, task_id text, payload jsonb))
         WITH ORDINALITY AS e(event_type, task_id, payload, n)
    ORDER BY n
"""
# data-modifying CTEs always run to completion, read or not
_ANNOUNCE = (
    f"audit AS ({_AUDIT_ROWS}), events AS ({outbox_insert_select(_EVENT_ROWS)}) "
    "SELECT pg_notify(channel, '') FROM unnest(%(channels)s::text[]) AS channel"
)


def _announce_postgresql(
    announcement: Announcement, carrier: Carrier | None
) -> tuple[str, dict[str, Any]]:
    events = [{"event_type": k, "task_id": t, "payload": p} for k, t, p in announcement.events]
    params = {
        "audits": json_rows(announcement.audits),
        "events": json_rows(events),
        "channels": announcement.notified,
        "request_id": announcement.request_id,
        "outbox_stream": CORE_STREAM,
        "outbox_created_at": announcement.now,
    }
    if carrier is None:
        return f"WITH {_ANNOUNCE}", params
    sql, carried = carrier
    return f"WITH carrier AS ({sql}), {_ANNOUNCE}", params | carried
