"""Messages in and out (outbound rows are the outbox), their files and templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from zapgate.store.tables.base import ID, Base

HAS_NEXT_ATTEMPT = text("next_attempt_at IS NOT NULL")
"""The outbox claim index's condition (out here: in ``MessageRow``, ``text`` is a column)."""
HAS_MEDIA = text("media_id IS NOT NULL")


class MediaRow(Base):
    __tablename__ = "media"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    mimetype: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]


class MediaBlobRow(Base):
    """A media file's bytes, kept in the database in cluster mode
    (``services/media_blobs.py``) so that every node reads what any node saved; keyed
    by the path a ``MediaRow`` names (written before that row, like a file)."""

    __tablename__ = "media_blobs"
    path: Mapped[str] = mapped_column(String(500), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class MessageRow(Base):
    """Every message in and out; outbound rows double as the durable outbox."""

    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    connection_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("connections.id", ondelete="SET NULL")
    )
    chat_id: Mapped[str | None] = mapped_column(ID, ForeignKey("chats.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(ID)
    wa_message_id: Mapped[str] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(3))
    chat_jid: Mapped[str] = mapped_column(String(128))
    sender_jid: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[str | None] = mapped_column(ID)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quoted_wa_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    template_id: Mapped[str | None] = mapped_column(ID)
    created_by: Mapped[str | None] = mapped_column(ID)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    send_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    played_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    edited_at: Mapped[datetime | None]
    """When WhatsApp last showed a new text for it (ours or the customer's edit)."""
    revoked_at: Mapped[datetime | None]
    """When it was deleted for everyone (or, still queued, canceled by a revoke)."""

    __table_args__ = (
        # The same WhatsApp id on one connection is one message (inbound idempotency).
        UniqueConstraint("connection_id", "wa_message_id", name="uq_messages_connection_wa_id"),
        UniqueConstraint("organization_id", "idempotency_key", name="uq_messages_org_idem"),
        Index("ix_messages_chat_id", "chat_id", "id"),
        Index("ix_messages_outbox", "status", "next_attempt_at"),
        # Only messages with a next attempt (waiting, in flight): the claim's index.
        Index(
            "ix_messages_conn_due",
            "connection_id",
            "next_attempt_at",
            "id",
            sqlite_where=HAS_NEXT_ATTEMPT,
            postgresql_where=HAS_NEXT_ATTEMPT,
        ),
        Index("ix_messages_org_created", "organization_id", "created_at"),
        Index("ix_messages_wa_id", "wa_message_id"),
        # Which messages carry a file (an agent's download checks their chats).
        Index(
            "ix_messages_media",
            "media_id",
            sqlite_where=HAS_MEDIA,
            postgresql_where=HAS_MEDIA,
        ),
    )


class TemplateRow(Base):
    __tablename__ = "templates"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_templates_org_name"),)
