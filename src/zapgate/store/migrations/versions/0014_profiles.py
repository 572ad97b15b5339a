"""contacts and connections: profile pictures, blocks, business accounts, own profile,
the proxy sealed at rest

- ``contacts``: ``blocked`` (blocked through zapgate), ``is_business`` (null while the
  engine has not said), the cached profile picture (a file of ``media``, WhatsApp's id
  of it, when it was last asked for).
- ``connections``: the profile status text and picture set through zapgate, and
  ``proxy_secret``: the proxy URL sealed (``util/secretbox``); ``proxy_url`` keeps only
  the masked form. Rows saved before are sealed at the next start
  (``ConnectionService.seal_stored``).

Revision ID: 0014
Revises: 0011 (the integrator re-chains it after 0012 and 0013)
Create Date: 2026-12-06 05:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        # Nullable: rows written by Core inserts that name only some columns
        # (``store.rows.insert_new``) hold NULL, read as "not blocked".
        batch_op.add_column(
            sa.Column("blocked", sa.Boolean(), nullable=True, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("is_business", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("picture_media_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("picture_id", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("picture_checked_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proxy_secret", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("profile_status", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("profile_picture_media_id", sa.String(length=36), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        for name in ("profile_picture_media_id", "profile_status", "proxy_secret"):
            batch_op.drop_column(name)
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        for name in (
            "picture_checked_at",
            "picture_id",
            "picture_media_id",
            "is_business",
            "blocked",
        ):
            batch_op.drop_column(name)
