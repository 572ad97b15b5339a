"""Tables. Rows stay here; repositories turn them into domain records.

Ids are UUIDv7 strings (time-ordered), except ``events.id`` which is an integer that
strictly increases in commit order (see ``events/log.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zapgate.store.types import BigIntPK, JSONType, UTCDateTime

HAS_NEXT_ATTEMPT = text("next_attempt_at IS NOT NULL")
"""The outbox claim index's condition (out here: in ``MessageRow``, ``text`` is a column)."""
IS_PENDING = text("status = 'pending'")
"""The ordered webhook claim index's condition: deliveries still to send."""
HAS_MEDIA = text("media_id IS NOT NULL")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(36)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class OrganizationRow(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    is_superadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    # Bumped when the password changes or the user is removed: old tokens stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=0)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ConnectionRow(Base):
    __tablename__ = "connections"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    linked: Mapped[bool] = mapped_column(Boolean, default=False)
    """The engine holds credentials for a linked device (resume without a new QR)."""
    jid: Mapped[str | None] = mapped_column(String(128))
    lid: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    push_name: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None]
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    connected_at: Mapped[datetime | None]
    disconnected_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    # Behaviour (domain/behaviour.py, migration 0011).
    reject_calls: Mapped[bool] = mapped_column(Boolean, default=False)
    reject_call_message: Mapped[str | None] = mapped_column(Text)
    always_online: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_read: Mapped[bool] = mapped_column(Boolean, default=False)
    ignore_groups: Mapped[bool] = mapped_column(Boolean, default=False)
    ignore_status: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_history: Mapped[str] = mapped_column(String(16), default="recent")
    proxy_url: Mapped[str | None] = mapped_column(Text)
    """As given, credentials included: answered masked, never logged."""


class ConnectionEventRow(Base):
    """The per-connection log shown in the panel (state changes, QR issued, errors)."""

    __tablename__ = "connection_events"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_connection_events_conn_id", "connection_id", "id"),)


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
    name: Mapped[str | None] = mapped_column(String(200))
    is_group: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
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


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ID)
    connection_id: Mapped[str | None] = mapped_column(ID)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = (Index("ix_events_org_id", "organization_id", "id"),)


class WebhookRow(Base):
    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    connection_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("connections.id", ondelete="CASCADE")
    )
    secret: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    ordered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """One delivery in flight at a time, in event id order (migration 0005)."""
    description: Mapped[str | None] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16), default="http", server_default="http")
    """How events reach the destination: ``http`` (a webhook: signed POST) or an event
    export to a broker, ``rabbitmq`` or ``nats`` (migration 0007). One table for every
    destination, so fan-out, claims, outcomes, retries and retention are one code path."""
    exchange: Mapped[str | None] = mapped_column(String(255))
    """rabbitmq: the exchange published to."""
    stream: Mapped[str | None] = mapped_column(String(255))
    """nats: the JetStream stream, created when missing."""
    subject_prefix: Mapped[str | None] = mapped_column(String(100))
    """Exports: first token of every routing key / subject."""
    failure_streak: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDeliveryRow(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ID, ForeignKey("webhooks.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ID)
    event_id: Mapped[int] = mapped_column(BigIntPK)
    event_type: Mapped[str] = mapped_column(String(40))
    connection_id: Mapped[str | None] = mapped_column(ID)
    """The event's connection (migration 0007): an export's routing key names it."""
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_hook_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # One endpoint's due rows, without walking other endpoints' backlogs (0002).
        Index("ix_webhook_deliveries_hook_due", "webhook_id", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_hook", "webhook_id", "id"),
        # An ordered webhook's next delivery: its pending row with the lowest event id,
        # one index entry away however long the delivered history (0005).
        Index(
            "ix_webhook_deliveries_hook_pending",
            "webhook_id",
            "event_id",
            sqlite_where=IS_PENDING,
            postgresql_where=IS_PENDING,
        ),
    )


class WebhookAttemptRow(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ID, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)


class LoginAttemptRow(Base):
    """Login attempts counted in the current window of one throttle counter.

    In the database, not in memory, so that every server process sees the same counts
    and a guesser cannot multiply the limits by spreading over nodes (see
    ``services/ratelimit.py`` for the policy).
    """

    __tablename__ = "login_attempts"
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime]
    last_success_at: Mapped[datetime | None]
