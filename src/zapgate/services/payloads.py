"""Messages, chats, contacts, connections and their status as the API returns them (and
as events carry them).

One function per resource, used by the routes, by every event that describes the
resource, and by the panel: a webhook receiver sees exactly what ``GET`` answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zapgate.domain.messages import Direction, MessageStatus
from zapgate.domain.phones import USER_SERVER, phone_of_jid
from zapgate.domain.times import iso_utc
from zapgate.services.connection_behaviour import behaviour_payload
from zapgate.services.drafts import MessageDraft
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.messages import MessageRow

CONTACT_PICTURE_URL = "/api/v1/contacts/{}/picture"
"""Where the API serves a contact's cached profile picture (never WhatsApp's URL)."""

_last_iso: tuple[datetime | None, str | None] = (None, None)


def _iso(value: datetime | None) -> str | None:
    """:func:`iso_utc`, remembered for the last instant."""
    global _last_iso
    if value is None:
        return None
    # One payload holds the same instant several times (created, updated, last activity).
    last, text = _last_iso
    if value is last and text is not None:
        return text
    text = iso_utc(value)
    _last_iso = (value, text)
    return text


def message_payload(row: MessageRow | MessageDraft) -> dict[str, Any]:
    """The message; ``contact_phone`` and ``contact_lid`` are kept in its payload column."""
    extra = row.payload or {}
    outbound = row.direction == Direction.OUT
    return {
        "id": row.id,
        "wa_message_id": row.wa_message_id,
        "connection_id": row.connection_id,
        "chat_id": row.chat_id,
        "contact_id": row.contact_id,
        "direction": row.direction,
        "to": row.chat_jid if outbound else None,
        "from": row.sender_jid if not outbound else None,
        "chat_jid": row.chat_jid,
        "type": row.type,
        "status": row.status,
        "ack": MessageStatus(row.status).ack,
        "text": row.text,
        "media": extra.get("media"),
        "location": extra.get("location"),
        "contact": extra.get("contact"),
        "reaction": extra.get("reaction"),
        "call": extra.get("call"),
        "poll": extra.get("poll"),
        "reply_to": row.quoted_wa_id,
        "template_id": row.template_id,
        "contact_phone": extra.get("contact_phone"),
        "contact_jid": _phone_jid(extra.get("contact_phone")),
        "contact_lid": extra.get("contact_lid"),
        "push_name": extra.get("push_name"),
        "sender": _group_sender(row, extra),
        "attempts": row.attempts,
        "created_at": _iso(row.created_at),
        "send_at": _iso(row.send_at),
        "sent_at": _iso(row.sent_at),
        "delivered_at": _iso(row.delivered_at),
        "read_at": _iso(row.read_at),
        "played_at": _iso(row.played_at),
        "failed_at": _iso(row.failed_at),
        "error_code": row.error_code,
        "error_message": row.error_message,
        "mentions": extra.get("mentions"),
        "edited_at": _iso(row.edited_at),
        "revoked_at": _iso(row.revoked_at),
        "edits": extra.get("edits"),
    }


def _phone_jid(phone: str | None) -> str | None:
    return f"{phone}@{USER_SERVER}" if phone else None


def mention_entries(jids: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """How a message keeps (and shows) whom it mentions: each JID with its phone when the
    JID is a phone's (a LID alone has none)."""
    out = []
    for jid in jids:
        user, _, server = jid.partition("@")
        phone = user.split(":", 1)[0] if server == "s.whatsapp.net" else None
        out.append({"phone": phone, "jid": jid})
    return out


def _group_sender(row: MessageRow | MessageDraft, extra: dict[str, Any]) -> dict[str, Any] | None:
    """Who wrote an incoming group message (in a 1:1 chat the chat says it already)."""
    if row.direction == Direction.OUT or not (row.chat_jid or "").endswith("@g.us"):
        return None
    phone = extra.get("contact_phone")
    return {
        "phone": phone,
        "jid": _phone_jid(phone) or row.sender_jid,
        "lid": extra.get("contact_lid"),
        "name": extra.get("push_name"),
    }


def message_preview(row: MessageRow | MessageDraft) -> dict[str, Any]:
    """What a chat keeps as its ``last_message``: enough for the inbox list (no text,
    and ``revoked``, for a message deleted for everyone)."""
    extra = row.payload or {}
    text = row.text
    if text is None and isinstance(extra.get("media"), dict):
        text = extra["media"].get("caption")
    preview: dict[str, Any] = {
        "id": row.id,
        "wa_message_id": row.wa_message_id,
        "direction": row.direction,
        "type": row.type,
        "text": text[:200] if text else None,
        "status": row.status,
        "at": _iso(row.created_at),
    }
    if row.revoked_at is not None:
        # A chat list shows "deleted" where the text was, as WhatsApp does.
        preview["text"] = None
        preview["revoked"] = True
    return preview


def chat_payload(row: ChatRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "connection_id": row.connection_id,
        "contact_id": row.contact_id,
        "jid": row.jid,
        "phone": phone_of_jid(row.jid),
        "lid": row.lid,
        "name": row.name,
        "is_group": row.is_group,
        "status": row.status,
        "assignee_id": row.assignee_id,
        "unread_count": row.unread_count,
        "last_message": row.last_message,
        "last_message_at": _iso(row.last_message_at),
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def contact_payload(row: ContactRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "phone": row.phone,
        "jid": row.jid,
        "lid": row.lid,
        "name": row.name,
        "push_name": row.push_name,
        "email": row.email,
        "company": row.company,
        "tags": list(row.tags or []),
        "notes": row.notes,
        "custom_fields": dict(row.custom_fields or {}),
        "on_whatsapp": row.on_whatsapp,
        "checked_at": _iso(row.checked_at),
        "blocked": bool(row.blocked),
        "is_business": row.is_business,
        "picture_url": CONTACT_PICTURE_URL.format(row.id) if row.picture_media_id else None,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def connection_payload(row: ConnectionRow) -> dict[str, Any]:
    """The connection as the API returns it (also the data of connection.* events)."""
    return {
        "id": row.id,
        "name": row.name,
        "label": row.label,
        "state": row.state,
        "phone": row.phone,
        "push_name": row.push_name,
        "is_primary": row.is_primary,
        "created_at": iso_utc(row.created_at),
        "connected_at": iso_utc(row.connected_at) if row.connected_at else None,
        "disconnected_at": iso_utc(row.disconnected_at) if row.disconnected_at else None,
        "last_seen_at": iso_utc(row.last_seen_at) if row.last_seen_at else None,
        "error_code": row.error_code,
        "error_message": row.error_message,
        "profile_status": row.profile_status,
        "profile_picture_media_id": row.profile_picture_media_id,
        **behaviour_payload(row),
    }


def connection_status_payload(row: ConnectionRow) -> dict[str, Any]:
    """The status as ``GET /connections/{id}/status`` answers it; the data of
    ``connection.status`` events (the recorder adds ``previous_state`` and ``reason``)."""
    return {
        "state": row.state,
        "phone": row.phone,
        "push_name": row.push_name,
        "connected_at": _offset_iso(row.connected_at),
        "last_seen_at": _offset_iso(row.last_seen_at),
        "error_code": row.error_code,
        "error_message": row.error_message,
        "attempt": row.attempt,
        "next_retry_at": _offset_iso(row.next_retry_at),
    }


def _offset_iso(value: datetime | None) -> str | None:
    # connection.status data writes UTC as "+00:00" where the other payloads write "Z";
    # it stays so, since receivers may compare or parse that text.
    return value.isoformat() if value else None
