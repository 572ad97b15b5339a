"""webhooks: ordered delivery

``webhooks.ordered`` asks for one delivery in flight at a time, in event id order, a
failing one holding back the later ones. Its worker claims the pending delivery with the
lowest event id; the partial index ``(webhook_id, event_id) WHERE status = 'pending'``
finds it in one entry, where the other indexes would walk the endpoint's whole retained
history of delivered rows (or sort its whole backlog) for every claim. It holds only
rows still to send, so it stays as small as the backlogs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

IS_PENDING = sa.text("status = 'pending'")

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ordered", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_hook_pending",
            ["webhook_id", "event_id"],
            unique=False,
            sqlite_where=IS_PENDING,
            postgresql_where=IS_PENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_hook_pending")
    # Not the batch copy-and-swap: dropping the old ``webhooks`` table with foreign keys
    # on (as ``zapgate migrate`` runs) would cascade to every delivery. SQLite (3.35+)
    # drops an unindexed column in place.
    with op.batch_alter_table("webhooks", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("ordered")
