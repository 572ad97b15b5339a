"""chats: ``lid``, the LID of a 1:1 chat's customer when known

A 1:1 chat is keyed by the customer's phone JID whenever the phone is known (else by
their LID); ``lid`` keeps the other address, so every chat shape carries both
(``services/batchcache.BatchRecords.person_chat``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 06:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lid", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_column("lid")
