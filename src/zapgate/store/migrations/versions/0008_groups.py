"""groups: the picture set through zapgate

``GET /connections/{id}/groups/{jid}`` answers the group's picture as a URL of ours:
the uploaded file it was set from. A picture another member sets stays on WhatsApp
(downloading every group picture is not worth it), so the column is then cleared.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("picture_media_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("picture_media_id")
