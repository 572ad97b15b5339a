"""webhook deliveries: index for one endpoint's due rows

Each webhook worker asks for its own due rows (``webhook_id``, ``status = 'pending'``,
``next_attempt_at <= now``). With only ``(status, next_attempt_at)`` the database walks
past the pending rows of every other endpoint first, so one slow endpoint's backlog made
every other endpoint's claim slower.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_hook_due",
            ["webhook_id", "status", "next_attempt_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_hook_due")
