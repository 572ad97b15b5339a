"""Webhook bodies in Evolution API's envelope: ``EvolutionFormat``, the body format the
composition root hands the webhooks pipeline (``webhooks/`` never imports this
package), around the pure translation ``evolution_body``; with the webhook's
``base64`` it reads a received media file into the body through the reader it is given.

``{event, instance, data, destination, date_time, sender, server_url, apikey}``, with
``event`` in Evolution's dotted lower case (``messages.upsert``) and ``data`` in its
shapes. With ``byEvents`` the URL gains the event's kebab-case name
(``…/messages-upsert``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from zapgate.domain.events import ALL_EVENT_TYPES
from zapgate.domain.phones import account_jid
from zapgate.services.qr import qr_png

from .groups import group_record
from .shapes import (
    connection_state,
    message_record,
    message_status,
    poll_updates,
    protocol_message,
    user_jid,
)

EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "MESSAGES_UPSERT": ("message.received",),
    "SEND_MESSAGE": ("message.sent",),
    "MESSAGES_UPDATE": ("message.status", "message.failed", "message.poll_vote"),
    "MESSAGES_DELETE": ("message.revoked",),
    "MESSAGES_EDITED": ("message.edited",),
    "SEND_MESSAGE_UPDATE": ("message.edited",),
    "CONNECTION_UPDATE": ("connection.status",),
    "QRCODE_UPDATED": ("connection.qr",),
    "CONTACTS_UPSERT": ("contact.updated",),
    "CONTACTS_UPDATE": ("contact.updated",),
    "CHATS_UPSERT": ("chat.updated",),
    "CHATS_UPDATE": ("chat.updated",),
    "PRESENCE_UPDATE": ("presence.updated",),
    "GROUPS_UPSERT": ("group.participants",),
    "GROUP_UPDATE": ("group.updated",),
    "GROUPS_UPDATE": ("group.updated",),
    "GROUP_PARTICIPANTS_UPDATE": ("group.participants",),
}
"""Evolution's webhook events and the zapgate event types that produce them; a type
this build does not publish yet is left out when subscribing. An edit is
``messages.edited`` when the customer made it and ``send.message.update`` when we did:
subscribing to either subscribes to both, as both come from ``message.edited``. ``GROUPS_UPSERT`` is
the number joining a group (a ``group.participants`` add of its own number), so it
and ``GROUP_PARTICIPANTS_UPDATE`` subscribe to the same type."""

EVOLUTION_EVENTS = frozenset(
    {
        "APPLICATION_STARTUP",
        "QRCODE_UPDATED",
        "MESSAGES_SET",
        "MESSAGES_UPSERT",
        "MESSAGES_EDITED",
        "MESSAGES_UPDATE",
        "MESSAGES_DELETE",
        "SEND_MESSAGE",
        "SEND_MESSAGE_UPDATE",
        "CONTACTS_SET",
        "CONTACTS_UPSERT",
        "CONTACTS_UPDATE",
        "PRESENCE_UPDATE",
        "CHATS_SET",
        "CHATS_UPSERT",
        "CHATS_UPDATE",
        "CHATS_DELETE",
        "GROUPS_UPSERT",
        "GROUP_UPDATE",
        "GROUP_PARTICIPANTS_UPDATE",
        "CONNECTION_UPDATE",
        "LABELS_EDIT",
        "LABELS_ASSOCIATION",
        "CALL",
        "TYPEBOT_START",
        "TYPEBOT_CHANGE_STATUS",
        "REMOVE_INSTANCE",
        "LOGOUT_INSTANCE",
        "INSTANCE_CREATE",
        "INSTANCE_DELETE",
        "STATUS_INSTANCE",
    }
)
"""Every event name Evolution API 2.3 accepts in a webhook. Integrations subscribe to
whatever their Evolution offered, so all are accepted and stored; those not in
``EVENT_TYPES`` never fire here (docs/evolution.md lists them)."""
KNOWN_EVENTS = EVOLUTION_EVENTS | EVENT_TYPES.keys()
"""The names a webhook may ask for: Evolution's, and ``GROUPS_UPDATE`` (zapgate's
spelling of ``GROUP_UPDATE``, kept for webhooks saved with it)."""
NEVER_FIRED = EVOLUTION_EVENTS - EVENT_TYPES.keys()

_NAMES = {
    "message.received": "messages.upsert",
    "message.sent": "send.message",
    "message.status": "messages.update",
    "message.failed": "messages.update",
    "message.poll_vote": "messages.update",
    "message.revoked": "messages.delete",
    "connection.status": "connection.update",
    "connection.qr": "qrcode.updated",
    "contact.updated": "contacts.upsert",
    "chat.updated": "chats.update",
    "group.updated": "groups.update",
    "group.participants": "group-participants.update",
    "presence.updated": "presence.update",
}
_PRESENCE = {"typing": "composing"}
"""zapgate's presence names that differ from Baileys' (the rest are the same)."""
MAX_BASE64_BYTES = 10 * 1024 * 1024
"""Media larger than this is not put into a webhook body (``message.base64`` is then
absent; /chat/getBase64FromMediaMessage still answers it)."""

MediaReader = Callable[..., Awaitable[bytes | None]]
"""``(organization_id, media_id, *, max_bytes)``: a stored file's bytes, or None."""


def zapgate_types(events: list[str]) -> list[str]:
    """The zapgate types to subscribe to for these Evolution events (all, when none)."""
    names = [e.strip().upper() for e in events if e.strip()] or list(EVENT_TYPES)
    found: list[str] = []
    for name in names:
        for kind in EVENT_TYPES.get(name, ()):
            if kind in ALL_EVENT_TYPES and kind not in found:
                found.append(kind)
    return found


def _joined(data: Mapping[str, Any], own: str | None) -> bool:
    """A ``group.participants`` event that is this number joining the group."""
    if data.get("action") != "add" or not own:
        return False
    # The instance's JID may name its device (``5511…:12@s.whatsapp.net``, neonize's):
    # the participant is the account, without one.
    account = account_jid(own)
    phone = account.partition("@")[0]
    return any(
        isinstance(p, dict) and (p.get("phone") == phone or p.get("jid") in (own, account))
        for p in data.get("participants") or []
    )


def event_name(kind: str, data: Mapping[str, Any], own: str | None = None) -> str:
    """Evolution's dotted name; ``own`` is the instance's JID (joins are upserts)."""
    if kind == "message.edited":
        return "send.message.update" if data.get("direction") == "out" else "messages.edited"
    name = _NAMES.get(kind, kind.replace("_", "-"))
    if kind == "chat.updated" and data.get("created_at") == data.get("updated_at"):
        name = "chats.upsert"
    if kind == "group.participants" and _joined(data, own):
        name = "groups.upsert"
    return name


def kebab(name: str) -> str:
    return name.replace(".", "-").replace("_", "-").lower()


def _update(m: Mapping[str, Any], instance_id: str | None) -> dict[str, Any]:
    record = message_record(dict(m), instance_id=instance_id)
    key = record["key"]
    data = {
        "messageId": m.get("id"),
        "keyId": key.get("id"),
        "remoteJid": key.get("remoteJid"),
        "fromMe": key.get("fromMe"),
        "participant": key.get("participant"),
        "status": message_status(str(m.get("status") or "")),
        "instanceId": instance_id,
    }
    if key.get("remoteJidAlt"):
        data["remoteJidAlt"] = key["remoteJidAlt"]
    return data


def event_data(
    kind: str, data: Mapping[str, Any], *, instance: str, instance_id: str | None
) -> Any:
    if kind in ("message.received", "message.sent", "message.revoked"):
        return message_record(dict(data), instance_id=instance_id)
    if kind in ("message.status", "message.failed"):
        return _update(data, instance_id)
    if kind == "message.edited":
        return protocol_message(dict(data), "MESSAGE_EDIT")
    if kind == "message.poll_vote":
        # Evolution's update of a poll: its key, and every option with its voters.
        return {**_update(data, instance_id), "pollUpdates": poll_updates(data.get("poll") or {})}
    if kind == "connection.status":
        state = connection_state(str(data.get("state") or ""))
        return {
            "instance": instance,
            "state": state,
            "statusReason": 200
            if state == "open"
            else 401
            if data.get("state") == "logged_out"
            else 428,
            "wuid": user_jid(data.get("phone")),
            "profileName": data.get("push_name"),
            "profilePictureUrl": None,
        }
    if kind == "connection.qr":
        code = str(data.get("code") or "")
        image = "data:image/png;base64," + base64.b64encode(qr_png(code)).decode() if code else None
        return {
            "qrcode": {"instance": instance, "pairingCode": None, "code": code, "base64": image}
        }
    if kind == "contact.updated":
        return [
            {
                "remoteJid": data.get("jid") or data.get("lid"),
                "remoteJidAlt": data.get("lid") if data.get("jid") else None,
                "pushName": data.get("push_name") or data.get("name"),
                "profilePicUrl": None,
                "instanceId": instance_id,
            }
        ]
    if kind == "chat.updated":
        return [
            {
                "remoteJid": data.get("jid"),
                "instanceId": instance_id,
                "name": data.get("name"),
                "unreadMessages": data.get("unread_count") or 0,
            }
        ]
    if kind in ("group.updated", "group.participants", "presence.updated"):
        return _other_data(kind, data)
    return dict(data)


def _member_jid(m: Any) -> str | None:
    if not isinstance(m, dict):
        return None
    return f"{m['phone']}@s.whatsapp.net" if m.get("phone") else m.get("jid") or m.get("lid")


def _other_data(kind: str, data: Mapping[str, Any]) -> Any:
    group = data.get("group") if isinstance(data.get("group"), dict) else {}
    assert isinstance(group, dict)
    author = _member_jid(data.get("by"))
    if kind == "group.updated":
        changes = data.get("changes") if isinstance(data.get("changes"), dict) else {}
        assert isinstance(changes, dict)
        update: dict[str, Any] = {"id": group.get("jid"), "author": author}
        if "subject" in changes:
            update["subject"] = changes["subject"]
        if "description" in changes:
            update["desc"] = changes["description"]
        if "picture" in changes:
            update["pictureUrl"] = changes["picture"]
        return [update]
    if kind == "group.participants":
        members = [m for m in data.get("participants") or [] if isinstance(m, dict)]
        return {
            "id": group.get("jid"),
            "author": author,
            "participants": [_member_jid(m) for m in members],
            "action": data.get("action"),
            "participantsData": [
                {
                    "jid": _member_jid(m),
                    "phoneNumber": m.get("phone"),
                    "lid": m.get("lid"),
                    "name": None,
                    "imgUrl": None,
                }
                for m in members
            ],
        }
    presence = str(data.get("presence") or "")
    state: dict[str, Any] = {"lastKnownPresence": _PRESENCE.get(presence, presence)}
    if data.get("last_seen"):
        state["lastSeen"] = int(datetime.fromisoformat(str(data["last_seen"])).timestamp())
    return {"id": data.get("chat_jid"), "presences": {str(data.get("jid")): state}}


def translate(body: bytes, url: str, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """zapgate's webhook body → Evolution's request: the URL and the envelope."""
    envelope = json.loads(body)
    kind = str(envelope.get("type") or "")
    data = envelope.get("data") or {}
    instance_id = envelope.get("connection_id")
    instance = str(options.get("instance") or instance_id or "")
    own = options.get("sender")
    name = event_name(kind, data, own if isinstance(own, str) else None)
    created = (
        datetime.fromisoformat(str(envelope["created_at"]))
        if envelope.get("created_at")
        else datetime.now(UTC)
    )
    if name == "groups.upsert":
        translated_data: Any = [group_record(data.get("group") or {}, participants=True)]
    else:
        translated_data = event_data(kind, data, instance=instance, instance_id=instance_id)
    translated = {
        "event": name,
        "instance": instance,
        "data": translated_data,
        "destination": url,
        "date_time": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        # Evolution names the account, never the device (older webhooks stored it).
        "sender": account_jid(own) if isinstance(own, str) else None,
        "server_url": options.get("server_url"),
        # Evolution puts the instance's token here; zapgate keeps only its hash, and
        # signs every request instead (X-Zapgate-Signature).
        "apikey": None,
    }
    target = f"{url.rstrip('/')}/{kebab(name)}" if options.get("by_events") else url
    return target, translated


def _encode(translated: Mapping[str, Any]) -> bytes:
    return json.dumps(translated, separators=(",", ":"), ensure_ascii=False).encode()


def evolution_body(body: bytes, url: str, options: Mapping[str, Any]) -> tuple[str, bytes]:
    """zapgate's webhook body → Evolution's request (URL and body), without media."""
    target, translated = translate(body, url, options)
    return target, _encode(translated)


class EvolutionFormat:
    """The ``evolution`` body format: :func:`evolution_body`, plus the media of a
    received message as base64 in ``message.base64`` when the webhook asks for it
    (``options.base64``), up to ``max_bytes``."""

    def __init__(self, read_media: MediaReader, *, max_bytes: int = MAX_BASE64_BYTES) -> None:
        self._read_media = read_media
        self._max_bytes = max_bytes

    async def __call__(
        self, body: bytes, url: str, options: Mapping[str, Any]
    ) -> tuple[str, bytes]:
        target, translated = translate(body, url, options)
        if options.get("base64") and translated["event"] == "messages.upsert":
            await self._inline_media(body, translated)
        return target, _encode(translated)

    async def _inline_media(self, body: bytes, translated: dict[str, Any]) -> None:
        envelope = json.loads(body)
        media = (envelope.get("data") or {}).get("media")
        message = translated["data"].get("message")
        if not isinstance(media, dict) or not media.get("media_id") or message is None:
            return
        data = await self._read_media(
            str(envelope.get("organization_id") or ""),
            str(media["media_id"]),
            max_bytes=self._max_bytes,
        )
        if data is not None:
            message["base64"] = base64.b64encode(data).decode()
