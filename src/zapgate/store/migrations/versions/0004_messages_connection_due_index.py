"""messages: index by connection and due time

The outbox claims a connection's next due message (``connection_id``, status waiting,
``next_attempt_at <= now``, oldest first). The only index was ``(status,
next_attempt_at)``, so each claim read and sorted the due messages of every connection:
tens of milliseconds per claim behind a backlog of a few thousand, on the event loop
since claims run as short transactions. Sent, failed and canceled messages have no
``next_attempt_at``: the index is partial, holding only the waiting messages (and the few
in flight) in claim order, so it stays small however many have been sent, and a claim
reads one entry. (``next_attempt_at <= now`` implies the index's condition, which both
SQLite's and PostgreSQL's planners prove.)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 23:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

HAS_NEXT_ATTEMPT = sa.text("next_attempt_at IS NOT NULL")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_conn_due",
            ["connection_id", "next_attempt_at", "id"],
            unique=False,
            sqlite_where=HAS_NEXT_ATTEMPT,
            postgresql_where=HAS_NEXT_ATTEMPT,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_conn_due")
