"""connections: behaviour settings and a proxy per connection

Calls rejected (with an optional reply), presence kept available, incoming marked
read, group and status traffic ignored, how much history a link imports, and the proxy
the engine dials WhatsApp through. Existing connections keep today's behaviour: every
flag false, ``recent`` history, no proxy.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLAGS = ("reject_calls", "always_online", "auto_read", "ignore_groups", "ignore_status")


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        for name in _FLAGS:
            batch_op.add_column(
                sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        batch_op.add_column(sa.Column("reject_call_message", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("sync_history", sa.String(length=16), nullable=False, server_default="recent")
        )
        batch_op.add_column(sa.Column("proxy_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        for name in ("proxy_url", "sync_history", "reject_call_message", *_FLAGS):
            batch_op.drop_column(name)
