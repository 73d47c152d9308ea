"""The tables. The initial migration creates exactly these (a test compares the two)."""

from __future__ import annotations

import sqlalchemy as sa

from ordinaut.core.states import (
    BackoffStrategy,
    Catchup,
    DstGap,
    DstOverlap,
    ProcessKind,
    ScheduleKind,
    TaskStatus,
    WorkState,
    values,
)
from ordinaut.store.types import ID, JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, enum: type) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values(enum))
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=column)


agent = sa.Table(
    "agent",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("scopes", JSONType, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(255), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

task = sa.Table(
    "task",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_by", ID, sa.ForeignKey("agent.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("schedule_kind", sa.String(16), nullable=False),
    sa.Column("schedule_expr", sa.Text, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("dtstart", UTCDateTime, nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.SmallInteger, nullable=False, server_default="5"),
    sa.Column("max_retries", sa.SmallInteger, nullable=False, server_default="3"),
    sa.Column("backoff_strategy", sa.String(24), nullable=False),
    sa.Column("dedupe_key", sa.String(100)),
    sa.Column("dedupe_window_seconds", sa.Integer, nullable=False, server_default="0"),
    sa.Column("concurrency_key", sa.String(100)),
    sa.Column("dst_gap", sa.String(8), nullable=False),
    sa.Column("dst_overlap", sa.String(8), nullable=False),
    sa.Column("catchup", sa.String(8), nullable=False),
    sa.Column("misfire_grace_seconds", sa.Integer, nullable=False, server_default="30"),
    sa.Column("next_run_at", UTCDateTime),
    sa.Column("last_run_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    _one_of("status", TaskStatus),
    _one_of("schedule_kind", ScheduleKind),
    _one_of("backoff_strategy", BackoffStrategy),
    _one_of("dst_gap", DstGap),
    _one_of("dst_overlap", DstOverlap),
    _one_of("catchup", Catchup),
    sa.CheckConstraint("priority BETWEEN 1 AND 9", name="priority"),
    sa.CheckConstraint("max_retries BETWEEN 0 AND 10", name="max_retries"),
    sa.CheckConstraint("dedupe_window_seconds >= 0", name="dedupe_window_seconds"),
    sa.CheckConstraint("misfire_grace_seconds >= 0", name="misfire_grace_seconds"),
    # the scheduler tick: active tasks by next_run_at
    sa.Index(
        "ix_task_due",
        "next_run_at",
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    ),
    sa.Index("ix_task_created_by_created_at", "created_by", "created_at"),
    sa.Index("ix_task_created_by_dedupe_key", "created_by", "dedupe_key"),
    sa.Index("ix_task_schedule_kind_status", "schedule_kind", "status"),
)

event = sa.Table(
    "event",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("source", sa.String(200)),
    sa.Column("published_by", ID, sa.ForeignKey("agent.id", ondelete="SET NULL")),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Index("ix_event_topic_published_at", "topic", "published_at"),
    sa.Index("ix_event_published_at", "published_at"),
)

due_work = sa.Table(
    "due_work",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("task_id", ID, sa.ForeignKey("task.id", ondelete="CASCADE"), nullable=False),
    sa.Column("scheduled_for", UTCDateTime, nullable=False),
    sa.Column("run_at", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempt", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.SmallInteger, nullable=False, server_default="4"),
    sa.Column("priority", sa.SmallInteger, nullable=False, server_default="5"),
    sa.Column("concurrency_key", sa.String(100)),
    sa.Column("locked_by", sa.String(100)),
    sa.Column("locked_until", UTCDateTime),
    sa.Column("reason", sa.Text),
    sa.Column("event_id", ID, sa.ForeignKey("event.id", ondelete="SET NULL")),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.UniqueConstraint("task_id", "scheduled_for", name="uq_due_work_task_id_scheduled_for"),
    _one_of("state", WorkState),
    sa.CheckConstraint("priority BETWEEN 1 AND 9", name="priority"),
    sa.CheckConstraint("attempt >= 0", name="attempt"),
    sa.CheckConstraint(
        "state <> 'running' OR (locked_by IS NOT NULL AND locked_until IS NOT NULL)",
        name="running_has_lease",
    ),
    # the claim: claimable rows by priority, then age
    sa.Index(
        "ix_due_work_claim",
        "priority",
        "run_at",
        sqlite_where=sa.text("state IN ('scheduled', 'retrying')"),
        postgresql_where=sa.text("state IN ('scheduled', 'retrying')"),
    ),
    # lease recovery and the concurrency-key exclusion look only at running rows
    sa.Index(
        "ix_due_work_running",
        "locked_until",
        sqlite_where=sa.text("state = 'running'"),
        postgresql_where=sa.text("state = 'running'"),
    ),
    sa.Index(
        "ix_due_work_running_key",
        "concurrency_key",
        sqlite_where=sa.text("state = 'running'"),
        postgresql_where=sa.text("state = 'running'"),
    ),
)

task_run = sa.Table(
    "task_run",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("task_id", ID, sa.ForeignKey("task.id", ondelete="CASCADE"), nullable=False),
    sa.Column("due_work_id", ID, sa.ForeignKey("due_work.id", ondelete="CASCADE"), nullable=False),
    sa.Column("attempt", sa.SmallInteger, nullable=False),
    sa.Column("worker_id", sa.String(100), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("duration_ms", sa.Float),
    sa.Column("success", sa.Boolean),
    sa.Column("error", sa.Text),
    sa.Column("output", JSONType),
    sa.UniqueConstraint("due_work_id", "attempt", name="uq_task_run_due_work_id_attempt"),
    sa.Index("ix_task_run_task_id_started_at", "task_id", "started_at"),
    sa.Index("ix_task_run_started_at", "started_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("stream", sa.String(200), nullable=False),
    sa.Column("task_id", ID),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("relayed_at", UTCDateTime),
    sa.Index(
        "ix_outbox_pending",
        "id",
        sqlite_where=sa.text("relayed_at IS NULL"),
        postgresql_where=sa.text("relayed_at IS NULL"),
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("actor", ID),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject_type", sa.String(32), nullable=False),
    sa.Column("subject_id", sa.String(100)),
    sa.Column("details", JSONType, nullable=False),
    sa.Column("request_id", sa.String(100)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_audit_log_created_at", "created_at"),
    sa.Index("ix_audit_log_subject_id", "subject_id"),
)

worker = sa.Table(
    "worker",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("running", sa.Integer, nullable=False, server_default="0"),
    sa.Column("processed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("info", JSONType),
    _one_of("kind", ProcessKind),
)

revoked_token = sa.Table(
    "revoked_token",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("agent_id", ID),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=False),
    sa.Index("ix_revoked_token_expires_at", "expires_at"),
)
