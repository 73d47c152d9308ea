"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ordinaut.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent")),
        sa.UniqueConstraint("key_id", name=op.f("uq_agent_key_id")),
        sa.UniqueConstraint("name", name=op.f("uq_agent_name")),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=36), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=100), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"], unique=False)
    op.create_index("ix_audit_log_subject_id", "audit_log", ["subject_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("relayed_at", ordinaut.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        unique=False,
        sqlite_where=sa.text("relayed_at IS NULL"),
        postgresql_where=sa.text("relayed_at IS NULL"),
    )

    op.create_table(
        "revoked_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("expires_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_token")),
    )
    op.create_index("ix_revoked_token_expires_at", "revoked_token", ["expires_at"], unique=False)

    op.create_table(
        "worker",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("started_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("running", sa.Integer(), server_default="0", nullable=False),
        sa.Column("processed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "info",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.CheckConstraint("kind IN ('worker', 'scheduler')", name=op.f("ck_worker_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker")),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("published_by", sa.String(length=36), nullable=True),
        sa.Column("published_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["agent.id"],
            name=op.f("fk_event_published_by_agent"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    op.create_index("ix_event_published_at", "event", ["published_at"], unique=False)
    op.create_index("ix_event_topic_published_at", "event", ["topic", "published_at"], unique=False)

    op.create_table(
        "task",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("schedule_kind", sa.String(length=16), nullable=False),
        sa.Column("schedule_expr", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("dtstart", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.SmallInteger(), server_default="5", nullable=False),
        sa.Column("max_retries", sa.SmallInteger(), server_default="3", nullable=False),
        sa.Column("backoff_strategy", sa.String(length=24), nullable=False),
        sa.Column("dedupe_key", sa.String(length=100), nullable=True),
        sa.Column("dedupe_window_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("concurrency_key", sa.String(length=100), nullable=True),
        sa.Column("dst_gap", sa.String(length=8), nullable=False),
        sa.Column("dst_overlap", sa.String(length=8), nullable=False),
        sa.Column("catchup", sa.String(length=8), nullable=False),
        sa.Column("misfire_grace_seconds", sa.Integer(), server_default="30", nullable=False),
        sa.Column("next_run_at", ordinaut.store.types.UTCDateTime(), nullable=True),
        sa.Column("last_run_at", ordinaut.store.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "backoff_strategy IN ('exponential_jitter', 'linear', 'fixed')",
            name=op.f("ck_task_backoff_strategy"),
        ),
        sa.CheckConstraint("catchup IN ('latest', 'all', 'none')", name=op.f("ck_task_catchup")),
        sa.CheckConstraint("dst_gap IN ('shift', 'skip')", name=op.f("ck_task_dst_gap")),
        sa.CheckConstraint(
            "dst_overlap IN ('first', 'last', 'both')", name=op.f("ck_task_dst_overlap")
        ),
        sa.CheckConstraint(
            "schedule_kind IN ('once', 'cron', 'rrule', 'event', 'condition')",
            name=op.f("ck_task_schedule_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'completed', 'canceled')", name=op.f("ck_task_status")
        ),
        sa.CheckConstraint(
            "dedupe_window_seconds >= 0", name=op.f("ck_task_dedupe_window_seconds")
        ),
        sa.CheckConstraint("max_retries BETWEEN 0 AND 10", name=op.f("ck_task_max_retries")),
        sa.CheckConstraint(
            "misfire_grace_seconds >= 0", name=op.f("ck_task_misfire_grace_seconds")
        ),
        sa.CheckConstraint("priority BETWEEN 1 AND 9", name=op.f("ck_task_priority")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["agent.id"], name=op.f("fk_task_created_by_agent"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    op.create_index(
        "ix_task_created_by_created_at", "task", ["created_by", "created_at"], unique=False
    )
    op.create_index(
        "ix_task_created_by_dedupe_key", "task", ["created_by", "dedupe_key"], unique=False
    )
    op.create_index(
        "ix_task_due",
        "task",
        ["next_run_at"],
        unique=False,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_task_schedule_kind_status", "task", ["schedule_kind", "status"], unique=False
    )

    op.create_table(
        "due_work",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("scheduled_for", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("run_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.SmallInteger(), server_default="4", nullable=False),
        sa.Column("priority", sa.SmallInteger(), server_default="5", nullable=False),
        sa.Column("concurrency_key", sa.String(length=100), nullable=True),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_until", ordinaut.store.types.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", ordinaut.store.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state <> 'running' OR (locked_by IS NOT NULL AND locked_until IS NOT NULL)",
            name=op.f("ck_due_work_running_has_lease"),
        ),
        sa.CheckConstraint(
            "state IN ('scheduled', 'running', 'retrying', 'succeeded', 'failed', 'missed', "
            "'canceled')",
            name=op.f("ck_due_work_state"),
        ),
        sa.CheckConstraint("attempt >= 0", name=op.f("ck_due_work_attempt")),
        sa.CheckConstraint("priority BETWEEN 1 AND 9", name=op.f("ck_due_work_priority")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_due_work_event_id_event"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_due_work_task_id_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_due_work")),
        sa.UniqueConstraint("task_id", "scheduled_for", name="uq_due_work_task_id_scheduled_for"),
    )
    op.create_index(
        "ix_due_work_claim",
        "due_work",
        ["priority", "run_at"],
        unique=False,
        sqlite_where=sa.text("state IN ('scheduled', 'retrying')"),
        postgresql_where=sa.text("state IN ('scheduled', 'retrying')"),
    )
    op.create_index(
        "ix_due_work_running",
        "due_work",
        ["locked_until"],
        unique=False,
        sqlite_where=sa.text("state = 'running'"),
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(
        "ix_due_work_running_key",
        "due_work",
        ["concurrency_key"],
        unique=False,
        sqlite_where=sa.text("state = 'running'"),
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(
        "ix_due_work_state_updated_at", "due_work", ["state", "updated_at"], unique=False
    )

    op.create_table(
        "task_run",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("due_work_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=False),
        sa.Column("started_at", ordinaut.store.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", ordinaut.store.types.UTCDateTime(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "output",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["due_work_id"],
            ["due_work.id"],
            name=op.f("fk_task_run_due_work_id_due_work"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_task_run_task_id_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_run")),
        sa.UniqueConstraint("due_work_id", "attempt", name="uq_task_run_due_work_id_attempt"),
    )
    op.create_index("ix_task_run_started_at", "task_run", ["started_at"], unique=False)
    op.create_index(
        "ix_task_run_task_id_started_at", "task_run", ["task_id", "started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_task_run_task_id_started_at", table_name="task_run")
    op.drop_index("ix_task_run_started_at", table_name="task_run")

    op.drop_table("task_run")
    op.drop_index("ix_due_work_state_updated_at", table_name="due_work")
    op.drop_index("ix_due_work_running_key", table_name="due_work")
    op.drop_index("ix_due_work_running", table_name="due_work")
    op.drop_index("ix_due_work_claim", table_name="due_work")

    op.drop_table("due_work")
    op.drop_index("ix_task_schedule_kind_status", table_name="task")
    op.drop_index("ix_task_due", table_name="task")
    op.drop_index("ix_task_created_by_dedupe_key", table_name="task")
    op.drop_index("ix_task_created_by_created_at", table_name="task")

    op.drop_table("task")
    op.drop_index("ix_event_topic_published_at", table_name="event")
    op.drop_index("ix_event_published_at", table_name="event")

    op.drop_table("event")
    op.drop_table("worker")
    op.drop_index("ix_revoked_token_expires_at", table_name="revoked_token")

    op.drop_table("revoked_token")
    op.drop_index("ix_outbox_pending", table_name="outbox")

    op.drop_table("outbox")
    op.drop_index("ix_audit_log_subject_id", table_name="audit_log")
    op.drop_index("ix_audit_log_created_at", table_name="audit_log")

    op.drop_table("audit_log")
    op.drop_table("agent")
