"""drop ix_due_work_state_updated_at: no query uses it, and every state change paid for it

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_due_work_state_updated_at", table_name="due_work")


def downgrade() -> None:
    op.create_index("ix_due_work_state_updated_at", "due_work", ["state", "updated_at"])
