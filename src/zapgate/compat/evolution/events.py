"""Webhook bodies in Evolution API's envelope (a pure function the webhooks pipeline
is handed by the composition root; ``webhooks/`` never imports this package).

``{event, instance, data, destination, date_time, sender, server_url, apikey}``, with
``event`` in Evolution's dotted lower case (``messages.upsert``) and ``data`` in its
shapes. With ``byEvents`` the URL gains the event's kebab-case name
(``…/messages-upsert``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from zapgate.domain.events import ALL_EVENT_TYPES
from zapgate.services.qr import qr_png

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
    "PRESENCE_UPDATE": (),
    "GROUPS_UPSERT": ("group.updated",),
    "GROUP_UPDATE": ("group.updated",),
    "GROUPS_UPDATE": ("group.updated",),
    "GROUP_PARTICIPANTS_UPDATE": ("group.participants",),
}
"""Evolution's webhook events and the zapgate event types that produce them; a type
this build does not publish yet is left out when subscribing. An edit is
``messages.edited`` when the customer made it and ``send.message.update`` when we did:
subscribing to either subscribes to both, as both come from ``message.edited``."""

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
}


def zapgate_types(events: list[str]) -> list[str]:
    """The zapgate types to subscribe to for these Evolution events (all, when none)."""
    names = [e.strip().upper() for e in events if e.strip()] or list(EVENT_TYPES)
    found: list[str] = []
    for name in names:
        for kind in EVENT_TYPES.get(name, ()):
            if kind in ALL_EVENT_TYPES and kind not in found:
                found.append(kind)
    return found


def event_name(kind: str, data: Mapping[str, Any]) -> str:
    if kind == "message.edited":
        return "send.message.update" if data.get("direction") == "out" else "messages.edited"
    name = _NAMES.get(kind, kind.replace("_", "-"))
    if kind == "chat.updated" and data.get("created_at") == data.get("updated_at"):
        name = "chats.upsert"
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
    return dict(data)


def evolution_body(body: bytes, url: str, options: Mapping[str, Any]) -> tuple[str, bytes]:
    """zapgate's webhook body → Evolution's request (URL and body)."""
    envelope = json.loads(body)
    kind = str(envelope.get("type") or "")
    data = envelope.get("data") or {}
    instance_id = envelope.get("connection_id")
    instance = str(options.get("instance") or instance_id or "")
    name = event_name(kind, data)
    created = (
        datetime.fromisoformat(str(envelope["created_at"]))
        if envelope.get("created_at")
        else datetime.now(UTC)
    )
    translated = {
        "event": name,
        "instance": instance,
        "data": event_data(kind, data, instance=instance, instance_id=instance_id),
        "destination": url,
        "date_time": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "sender": options.get("sender"),
        "server_url": options.get("server_url"),
        # Evolution puts the instance's token here; zapgate keeps only its hash, and
        # signs every request instead (X-Zapgate-Signature).
        "apikey": None,
    }
    target = f"{url.rstrip('/')}/{kebab(name)}" if options.get("by_events") else url
    return target, json.dumps(translated, separators=(",", ":"), ensure_ascii=False).encode()
