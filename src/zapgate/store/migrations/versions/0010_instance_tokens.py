"""Evolution API compatibility: instance tokens and webhook body formats

``connections.token_hash`` keeps the SHA-256 of a connection's instance token (the
``apikey`` an Evolution API integration uses for one instance's routes), unique so a
token names one connection. ``webhooks.format`` chooses the request body (zapgate's
envelope or Evolution's) and ``webhooks.options`` holds that format's settings.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_connections_token_hash", ["token_hash"], unique=True)
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("format", sa.String(length=16), server_default="zapgate", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "options",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    # In place (SQLite 3.35+ drops unindexed columns): the batch copy of ``webhooks``
    # or ``connections`` with foreign keys on would cascade to their dependants.
    with op.batch_alter_table("webhooks", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("options")
        batch_op.drop_column("format")
    with op.batch_alter_table("connections", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_connections_token_hash")
        batch_op.drop_column("token_hash")
