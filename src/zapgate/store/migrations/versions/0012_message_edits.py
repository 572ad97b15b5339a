"""messages: edited and revoked (deleted for everyone)

``edited_at`` is when WhatsApp last showed a new text for a message (an edit of ours or
of the customer's); ``revoked_at`` when it was deleted for everyone. Earlier texts stay
in the row's ``payload`` (``edits``), so an edit loses nothing. Existing rows: neither.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("edited_at")
