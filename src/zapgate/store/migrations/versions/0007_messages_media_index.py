"""messages: index by media id

An agent may download a file only when no message carries it yet (an upload) or a
message of a chat it sees carries it, so each of its downloads (every picture of a
conversation it opens in the panel) looks up the messages carrying that file. Without
an index that read every message: about 1 s per file on SQLite with 200,000 messages,
0.04 ms with it. Most messages carry no file: the index is partial, holding only those
that do (``media_id = :id`` implies its condition, which both planners prove).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

HAS_MEDIA = sa.text("media_id IS NOT NULL")

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_media",
            ["media_id"],
            unique=False,
            sqlite_where=HAS_MEDIA,
            postgresql_where=HAS_MEDIA,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_media")
