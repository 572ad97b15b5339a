"""Evolution's bodies for group, presence and media events (pure, and the base64
option with a stand-in media reader)."""

from __future__ import annotations

import base64
import json
from typing import Any

from zapgate.compat.evolution.events import EvolutionFormat, evolution_body

GROUP: dict[str, Any] = {
    "id": "g1",
    "connection_id": "c1",
    "jid": "120363000000000001@g.us",
    "subject": "Loja",
    "description": "Avisos",
    "picture": None,
    "participants": [
        {
            "phone": "5511999990001",
            "jid": "5511999990001@s.whatsapp.net",
            "lid": None,
            "is_admin": True,
            "is_super_admin": True,
        },
        {
            "phone": "5511988887777",
            "jid": "123@lid",
            "lid": "123@lid",
            "is_admin": False,
            "is_super_admin": False,
        },
    ],
    "updated_at": "2026-01-02T03:04:05Z",
}
ME = {"jid": "5511999990001@s.whatsapp.net", "phone": "5511999990001", "lid": None}
ANA = {"jid": "123@lid", "phone": "5511988887777", "lid": "123@lid"}
OPTIONS = {"instance": "loja", "sender": "5511999990001@s.whatsapp.net"}


def _envelope(kind: str, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": 7,
            "type": kind,
            "organization_id": "o1",
            "connection_id": "c1",
            "created_at": "2026-01-02T03:04:05Z",
            "data": data,
        }
    ).encode()


def _body(kind: str, data: dict[str, Any], **options: Any) -> dict[str, Any]:
    url, body = evolution_body(_envelope(kind, data), "https://crm.example/h", OPTIONS | options)
    sent: dict[str, Any] = json.loads(body)
    sent["url"] = url
    return sent


def test_group_subject_change_is_groups_update_with_a_partial_group() -> None:
    sent = _body(
        "group.updated",
        {"group": GROUP, "changes": {"subject": "Loja 2"}, "by": ANA, "source": "whatsapp"},
        by_events=True,
    )
    assert sent["event"] == "groups.update"
    assert sent["url"] == "https://crm.example/h/groups-update"
    assert sent["data"] == [
        {
            "id": "120363000000000001@g.us",
            "author": "5511988887777@s.whatsapp.net",
            "subject": "Loja 2",
        }
    ]
    described = _body(
        "group.updated",
        {"group": GROUP, "changes": {"description": None}, "by": None, "source": "api"},
    )
    assert described["data"] == [{"id": GROUP["jid"], "author": None, "desc": None}]


def test_someone_added_is_group_participants_update_with_phone_jids() -> None:
    sent = _body(
        "group.participants",
        {"group": GROUP, "action": "add", "participants": [ANA], "by": ME, "source": "api"},
    )
    assert sent["event"] == "group-participants.update"
    assert sent["data"] == {
        "id": GROUP["jid"],
        "author": "5511999990001@s.whatsapp.net",
        "participants": ["5511988887777@s.whatsapp.net"],
        "action": "add",
        "participantsData": [
            {
                "jid": "5511988887777@s.whatsapp.net",
                "phoneNumber": "5511988887777",
                "lid": "123@lid",
                "name": None,
                "imgUrl": None,
            }
        ],
    }


def test_our_number_joining_is_groups_upsert_with_the_whole_group() -> None:
    sent = _body(
        "group.participants",
        {"group": GROUP, "action": "add", "participants": [ME], "by": ME, "source": "api"},
    )
    assert sent["event"] == "groups.upsert"
    (group,) = sent["data"]
    assert group["id"] == GROUP["jid"]
    assert group["subject"] == "Loja"
    assert group["desc"] == "Avisos"
    assert group["size"] == 2
    assert group["owner"] == "5511999990001@s.whatsapp.net"
    assert [(p["id"], p["admin"]) for p in group["participants"]] == [
        ("5511999990001@s.whatsapp.net", "superadmin"),
        ("5511988887777@s.whatsapp.net", None),
    ]
    # Leaving is a participants update, not an upsert.
    left = _body(
        "group.participants",
        {"group": GROUP, "action": "remove", "participants": [ME], "by": ME, "source": "api"},
    )
    assert left["event"] == "group-participants.update"


def test_presence_is_presence_update_in_baileys_shape() -> None:
    typing = _body(
        "presence.updated",
        {
            "jid": "5511988887777@s.whatsapp.net",
            "phone": "5511988887777",
            "lid": None,
            "chat_jid": "5511988887777@s.whatsapp.net",
            "presence": "typing",
            "last_seen": None,
        },
        by_events=True,
    )
    assert typing["event"] == "presence.update"
    assert typing["url"] == "https://crm.example/h/presence-update"
    assert typing["data"] == {
        "id": "5511988887777@s.whatsapp.net",
        "presences": {"5511988887777@s.whatsapp.net": {"lastKnownPresence": "composing"}},
    }
    offline = _body(
        "presence.updated",
        {
            "jid": "5511988887777@s.whatsapp.net",
            "chat_jid": "5511988887777@s.whatsapp.net",
            "presence": "unavailable",
            "last_seen": "2026-01-01T12:00:00+00:00",
        },
    )
    assert offline["data"]["presences"]["5511988887777@s.whatsapp.net"] == {
        "lastKnownPresence": "unavailable",
        "lastSeen": 1767268800,
    }


IMAGE: dict[str, Any] = {
    "id": "m1",
    "wa_message_id": "3EB0B",
    "direction": "in",
    "chat_jid": "5511988887777@s.whatsapp.net",
    "type": "image",
    "status": "received",
    "contact_phone": "5511988887777",
    "media": {"media_id": "0123", "mimetype": "image/png", "size": 3},
    "created_at": "2026-01-02T03:04:05Z",
}


class Reader:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.asked: list[tuple[str, str, int]] = []

    async def __call__(
        self, organization_id: str, media_id: str, *, max_bytes: int
    ) -> bytes | None:
        self.asked.append((organization_id, media_id, max_bytes))
        data = self.files.get(media_id)
        return data if data is not None and len(data) <= max_bytes else None


async def test_base64_puts_a_received_media_into_message_base64() -> None:
    reader = Reader({"0123": b"PNG"})
    fmt = EvolutionFormat(reader, max_bytes=10)
    envelope = _envelope("message.received", IMAGE)
    _, body = await fmt(envelope, "https://crm.example/h", OPTIONS | {"base64": True})
    sent = json.loads(body)
    assert sent["event"] == "messages.upsert"
    assert base64.b64decode(sent["data"]["message"]["base64"]) == b"PNG"
    assert "imageMessage" in sent["data"]["message"]
    assert reader.asked == [("o1", "0123", 10)]
    # Without the option the body is the plain one, and no file is read.
    _, plain = await fmt(envelope, "https://crm.example/h", OPTIONS)
    assert "base64" not in json.loads(plain)["data"]["message"]
    assert len(reader.asked) == 1


async def test_base64_leaves_out_media_over_the_cap_and_other_events() -> None:
    reader = Reader({"0123": b"x" * 11})
    fmt = EvolutionFormat(reader, max_bytes=10)
    _, body = await fmt(
        _envelope("message.received", IMAGE), "https://crm.example/h", OPTIONS | {"base64": True}
    )
    assert "base64" not in json.loads(body)["data"]["message"]
    sent = await fmt(
        _envelope("message.sent", IMAGE | {"direction": "out"}),
        "https://crm.example/h",
        OPTIONS | {"base64": True},
    )
    assert "base64" not in json.loads(sent[1])["data"]["message"]
    assert len(reader.asked) == 1
