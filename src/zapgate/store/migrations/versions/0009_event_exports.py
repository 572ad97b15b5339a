"""webhooks: event exports to RabbitMQ and NATS JetStream

An export is a destination like a webhook, published to a broker instead of POSTed:
its rows live in ``webhooks`` with ``kind`` saying which (``http`` for every existing
row), so its deliveries share ``webhook_deliveries`` and ``webhook_attempts`` and the
same fan-out, claims, outcomes, retries and retention. ``exchange`` (RabbitMQ),
``stream`` (NATS) and ``subject_prefix`` are an export's own settings.
``webhook_deliveries.connection_id`` keeps the event's connection, which an export's
routing key names (rows from before are NULL: published under ``none``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("kind", "exchange", "stream", "subject_prefix")


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="http", nullable=False)
        )
        batch_op.add_column(sa.Column("exchange", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("stream", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("subject_prefix", sa.String(length=100), nullable=True))
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connection_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    # Exports cannot be kept as webhooks (their URL is a broker's): they go, with their
    # deliveries (cascade).
    op.execute(sa.text("DELETE FROM webhooks WHERE kind <> 'http'"))
    with op.batch_alter_table("webhook_deliveries", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("connection_id")
    # In place, not the batch copy-and-swap: dropping the old ``webhooks`` table with
    # foreign keys on would cascade to every delivery (see 0006).
    with op.batch_alter_table("webhooks", schema=None, recreate="never") as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
