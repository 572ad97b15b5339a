"""zapgate's resources in Evolution API's shapes (pure functions, no I/O).

The inputs are the payloads zapgate's services return (``services/payloads.py``),
so the API answers and the webhook bodies translate the same dictionaries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zapgate.domain.phones import account_jid
from zapgate.domain.states import ConnectionState

S = ConnectionState
OPEN, CONNECTING, CLOSE = "open", "connecting", "close"
_STATES = {
    S.READY: OPEN,
    S.INITIALIZING: CONNECTING,
    S.QR_READY: CONNECTING,
    S.PAIRING_CODE_READY: CONNECTING,
    S.AUTHENTICATED: CONNECTING,
    S.RECONNECTING: CONNECTING,
    S.IDLE: CLOSE,
    S.DISCONNECTED: CLOSE,
    S.LOGGED_OUT: CLOSE,
    S.ERROR: CLOSE,
}

# Evolution's status names follow WhatsApp's acks.
_STATUS = {
    "scheduled": "PENDING",
    "queued": "PENDING",
    "sending": "PENDING",
    "sent": "SERVER_ACK",
    "delivered": "DELIVERY_ACK",
    "read": "READ",
    "played": "PLAYED",
    "failed": "ERROR",
    "canceled": "ERROR",
    "received": "DELIVERY_ACK",
}

MESSAGE_TYPES = {
    "text": "conversation",
    "image": "imageMessage",
    "video": "videoMessage",
    "audio": "audioMessage",
    "voice": "audioMessage",
    "document": "documentMessage",
    "sticker": "stickerMessage",
    "location": "locationMessage",
    "contact": "contactMessage",
    "reaction": "reactionMessage",
    "poll": "pollCreationMessage",
}
TYPES_BY_NAME = {
    "conversation": ("text",),
    "extendedTextMessage": ("text",),
    "imageMessage": ("image",),
    "videoMessage": ("video",),
    "audioMessage": ("audio", "voice"),
    "documentMessage": ("document",),
    "stickerMessage": ("sticker",),
    "locationMessage": ("location",),
    "contactMessage": ("contact",),
    "reactionMessage": ("reaction",),
    "pollCreationMessage": ("poll",),
}


def connection_state(state: str) -> str:
    try:
        return _STATES[ConnectionState(state)]
    except ValueError:
        return CLOSE


def message_status(status: str) -> str:
    return _STATUS.get(status, "PENDING")


def seconds(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(iso).timestamp())


def user_jid(phone: str | None) -> str | None:
    return f"{phone}@s.whatsapp.net" if phone else None


def owner_jid(jid: str | None, phone: str | None) -> str | None:
    """The instance's own JID as Evolution names it (``ownerJid``, a webhook's
    ``sender``): the account's, without the device a linked session's JID carries."""
    return account_jid(jid) if jid else user_jid(phone)


def message_key(m: dict[str, Any]) -> dict[str, Any]:
    """``remoteJid`` is the phone JID whenever it is known; the LID goes in
    ``remoteJidAlt``."""
    chat = m.get("chat_jid") or ""
    phone_jid = user_jid(m.get("contact_phone"))
    lid = m.get("contact_lid")
    key: dict[str, Any] = {"remoteJid": chat, "fromMe": m.get("direction") == "out"}
    if chat.endswith("@lid"):
        lid = chat
        if phone_jid:
            key["remoteJid"] = phone_jid
    if lid and lid != key["remoteJid"]:
        key["remoteJidAlt"] = lid
    key["id"] = m.get("wa_message_id")
    if chat.endswith("@g.us") and m.get("direction") == "in" and m.get("from"):
        key["participant"] = m["from"]
    return key


def _media(m: dict[str, Any], name: str) -> dict[str, Any]:
    media = m.get("media") or {}
    body: dict[str, Any] = {
        "mimetype": media.get("mimetype"),
        "fileLength": str(media.get("size") or 0),
        "fileSha256": media.get("sha256"),
    }
    if media.get("caption") or m.get("text"):
        body["caption"] = media.get("caption") or m.get("text")
    if name == "documentMessage":
        body["fileName"] = media.get("filename")
        body["title"] = media.get("filename")
    if name == "audioMessage":
        body["ptt"] = m.get("type") == "voice"
    return body


def message_content(m: dict[str, Any]) -> dict[str, Any]:
    kind = m.get("type") or "text"
    name = MESSAGE_TYPES.get(kind, "conversation")
    if kind == "text":
        # A reply or a mention travels as WhatsApp's extendedTextMessage; Evolution
        # (since 2.2) says it as a conversation, its contextInfo beside the message.
        return {"conversation": m.get("text") or ""}
    if kind == "location":
        loc = m.get("location") or {}
        return {
            name: {
                "degreesLatitude": loc.get("latitude"),
                "degreesLongitude": loc.get("longitude"),
                "name": loc.get("name"),
                "address": loc.get("address"),
            }
        }
    if kind == "contact":
        card = m.get("contact") or {}
        return {name: {"displayName": card.get("name"), "vcard": card.get("vcard")}}
    if kind == "reaction":
        reaction = m.get("reaction") or {}
        return {
            name: {
                "key": {
                    "remoteJid": m.get("chat_jid"),
                    "fromMe": bool(reaction.get("from_me")),
                    "id": reaction.get("wa_message_id"),
                },
                "text": reaction.get("emoji") or "",
            }
        }
    if kind == "poll":
        return {name: poll_content(m.get("poll") or {})}
    return {name: _media(m, name)}


def _context(m: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if m.get("reply_to"):
        context["stanzaId"] = m["reply_to"]
    if m.get("mentions"):
        context["mentionedJid"] = [e.get("jid") for e in m["mentions"]]
    return context


def poll_content(poll: dict[str, Any]) -> dict[str, Any]:
    """WhatsApp's poll fields: 1 selectable option for a single choice, 0 for any."""
    return {
        "name": poll.get("question"),
        "options": [{"optionName": option} for option in poll.get("options") or []],
        "selectableOptionsCount": 0 if poll.get("multiple") else 1,
    }


def poll_updates(poll: dict[str, Any]) -> list[dict[str, Any]]:
    """The tally as Evolution's ``pollUpdates``: each option with the JIDs that chose it
    (the phone JID when known)."""
    voters = poll.get("voters") or []
    return [
        {
            "name": option,
            "voters": [
                user_jid(v.get("phone")) or v.get("jid")
                for v in voters
                if option in (v.get("options") or [])
            ],
        }
        for option in poll.get("options") or []
    ]


def message_type(m: dict[str, Any]) -> str:
    return MESSAGE_TYPES.get(m.get("type") or "text", "conversation")


def message_record(m: dict[str, Any], *, instance_id: str | None) -> dict[str, Any]:
    """A message as Evolution answers a send, lists it in ``findMessages`` and sends it
    in ``messages.upsert`` / ``send.message``: the reply and mentions in a top-level
    ``contextInfo`` (Evolution's ``prepareMessage``), present only when there are some."""
    record: dict[str, Any] = {
        "id": m.get("id"),
        "key": message_key(m),
        "pushName": m.get("push_name") or "",
        "status": "DELETED" if m.get("revoked_at") else message_status(m.get("status") or "queued"),
        "message": message_content(m),
        "messageType": message_type(m),
        "messageTimestamp": seconds(m.get("created_at")),
        "instanceId": instance_id or m.get("connection_id"),
        "source": "unknown",
    }
    context = _context(m)
    if context:
        record["contextInfo"] = context
    if m.get("error_code"):
        record["error"] = {"code": m.get("error_code"), "message": m.get("error_message")}
    return record


def chat_record(c: dict[str, Any], contact: dict[str, Any] | None = None) -> dict[str, Any]:
    last = c.get("last_message") or {}
    return {
        "id": c.get("id"),
        "remoteJid": c.get("jid"),
        "pushName": c.get("name"),
        "name": c.get("name"),
        "profilePicUrl": None,
        "unreadCount": c.get("unread_count") or 0,
        "updatedAt": c.get("updated_at"),
        "createdAt": c.get("created_at"),
        "instanceId": c.get("connection_id"),
        "lastMessage": (
            {
                "key": {"id": last.get("wa_message_id"), "fromMe": last.get("direction") == "out"},
                "messageTimestamp": seconds(last.get("at")),
                "message": {"conversation": last.get("text") or ""},
            }
            if last
            else None
        ),
    }


def contact_record(c: dict[str, Any], *, instance_id: str | None) -> dict[str, Any]:
    return {
        "id": c.get("id"),
        "remoteJid": c.get("jid") or c.get("lid"),
        "remoteJidAlt": c.get("lid") if c.get("jid") else None,
        "pushName": c.get("push_name") or c.get("name"),
        "profilePicUrl": None,
        "createdAt": c.get("created_at"),
        "updatedAt": c.get("updated_at"),
        "instanceId": instance_id,
    }


def _millis(iso: str | None) -> str | None:
    return str(int(datetime.fromisoformat(iso).timestamp() * 1000)) if iso else None


def protocol_message(m: dict[str, Any], kind: str) -> dict[str, Any]:
    """The ``protocolMessage`` of an edit (``MESSAGE_EDIT``) or a delete for everyone
    (``REVOKE``) of message ``m``: what Evolution's ``messages.edited`` and
    ``send.message.update`` events carry."""
    protocol: dict[str, Any] = {"key": message_key(m), "type": kind}
    if kind == "MESSAGE_EDIT":
        protocol["editedMessage"] = {"conversation": m.get("text") or ""}
        protocol["timestampMs"] = _millis(m.get("edited_at") or m.get("created_at"))
    return protocol


def protocol_record(m: dict[str, Any], kind: str) -> dict[str, Any]:
    """What Evolution answers ``updateMessage`` and ``deleteMessageForEveryone`` with: the
    protocol message sent."""
    key = message_key(m)
    when = m.get("edited_at") or m.get("revoked_at") or m.get("created_at")
    return {
        "key": {"remoteJid": key["remoteJid"], "fromMe": True, "id": key["id"]},
        "message": {"protocolMessage": protocol_message(m, kind)},
        "messageTimestamp": seconds(when),
        "status": "PENDING",
    }
