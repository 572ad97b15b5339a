"""chats: index by organization and jid

Routing a message that names no connection looks for the chat's owner among all the
organization's connections (``organization_id``, ``jid``). Without this index the
database read every chat of the organization for each group commit, so sending got
slower as chats accumulated (SQLite's plan: ``ix_chats_org_contact (organization_id=?)``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.create_index("ix_chats_org_jid", ["organization_id", "jid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_index("ix_chats_org_jid")
