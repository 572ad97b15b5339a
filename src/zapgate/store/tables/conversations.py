"""Who the organization talks with: contacts, chats and the groups chats may be."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from zapgate.domain.chats import ChatStatus
from zapgate.store.tables.base import ID, Base
from zapgate.store.types import JSONType


class ContactRow(Base):
    __tablename__ = "contacts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    phone: Mapped[str | None] = mapped_column(String(32))
    jid: Mapped[str] = mapped_column(String(128))
    lid: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200))
    push_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    company: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    on_whatsapp: Mapped[bool | None] = mapped_column(Boolean)
    checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Profiles (services/profiles.py, migration 0014).
    blocked: Mapped[bool | None] = mapped_column(Boolean, default=False, server_default=false())
    """Blocked through zapgate on the organization's connections (NULL: not blocked)."""
    is_business: Mapped[bool | None] = mapped_column(Boolean)
    """A WhatsApp Business account; None until an engine said."""
    picture_media_id: Mapped[str | None] = mapped_column(ID)
    """The cached profile picture (a file of ``media``); None when none or not fetched."""
    picture_id: Mapped[str | None] = mapped_column(String(128))
    """WhatsApp's id of that picture (a new one means the picture changed)."""
    picture_checked_at: Mapped[datetime | None]
    """When WhatsApp was last asked for the picture; the cache expires from it."""

    __table_args__ = (
        UniqueConstraint("organization_id", "jid", name="uq_contacts_org_jid"),
        Index("ix_contacts_org_lid", "organization_id", "lid"),
        Index("ix_contacts_org_phone", "organization_id", "phone"),
    )


class ChatRow(Base):
    __tablename__ = "chats"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    connection_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("connections.id", ondelete="SET NULL")
    )
    contact_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("contacts.id", ondelete="SET NULL")
    )
    jid: Mapped[str] = mapped_column(String(128))
    """A 1:1 chat's customer by phone JID when the phone is known, else by LID."""
    lid: Mapped[str | None] = mapped_column(String(128))
    """The customer's LID when known (migration 0018); None for groups."""
    name: Mapped[str | None] = mapped_column(String(200))
    is_group: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=ChatStatus.PENDING.value)
    assignee_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"))
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    last_message: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_message_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("connection_id", "jid", name="uq_chats_connection_jid"),
        Index("ix_chats_org_activity", "organization_id", "last_message_at", "id"),
        Index("ix_chats_org_contact", "organization_id", "contact_id"),
        # Routing a send asks who owns a chat by its jid, across the organization's
        # connections (``Router.choose_many``).
        Index("ix_chats_org_jid", "organization_id", "jid"),
    )


class GroupRow(Base):
    __tablename__ = "groups"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ID)
    connection_id: Mapped[str] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    jid: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200))
    topic: Mapped[str | None] = mapped_column(Text)
    participants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime]
    picture_media_id: Mapped[str | None] = mapped_column(ID)
    """The picture set through zapgate (a file of ``media``); None when unknown."""

    __table_args__ = (UniqueConstraint("connection_id", "jid", name="uq_groups_connection_jid"),)
