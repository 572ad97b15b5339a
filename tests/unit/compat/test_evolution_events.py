"""Evolution's webhook envelope and message shapes from zapgate's payloads (pure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zapgate.compat.evolution.events import (
    NEVER_FIRED,
    event_name,
    evolution_body,
    zapgate_types,
)
from zapgate.compat.evolution.shapes import connection_state, message_record

MESSAGE: dict[str, Any] = {
    "id": "01a2",
    "wa_message_id": "3EB0AAA",
    "connection_id": "c1",
    "direction": "in",
    "chat_jid": "5511988887777@s.whatsapp.net",
    "from": "5511988887777@s.whatsapp.net",
    "type": "text",
    "status": "received",
    "text": "Oi",
    "contact_phone": "5511988887777",
    "contact_lid": "123456@lid",
    "push_name": "Ana",
    "created_at": "2026-01-02T03:04:05Z",
}


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


def test_received_message_is_messages_upsert_with_phone_jid_and_lid() -> None:
    url, body = evolution_body(
        _envelope("message.received", MESSAGE),
        "https://crm.example/hook",
        {"instance": "loja", "by_events": True, "server_url": "https://zg"},
    )
    assert url == "https://crm.example/hook/messages-upsert"
    sent = json.loads(body)
    assert sent["event"] == "messages.upsert"
    assert sent["instance"] == "loja"
    assert sent["destination"] == "https://crm.example/hook"
    assert sent["date_time"] == "2026-01-02T03:04:05Z"
    assert sent["data"]["key"] == {
        "remoteJid": "5511988887777@s.whatsapp.net",
        "fromMe": False,
        "remoteJidAlt": "123456@lid",
        "id": "3EB0AAA",
    }
    assert sent["data"]["message"] == {"conversation": "Oi"}
    assert sent["data"]["messageTimestamp"] == 1767323045


def test_a_chat_known_by_lid_still_answers_the_phone_jid() -> None:
    record = message_record({**MESSAGE, "chat_jid": "123456@lid"}, instance_id="c1")
    assert record["key"]["remoteJid"] == "5511988887777@s.whatsapp.net"
    assert record["key"]["remoteJidAlt"] == "123456@lid"


def test_status_is_messages_update_and_url_unchanged_without_by_events() -> None:
    url, body = evolution_body(
        _envelope("message.status", {**MESSAGE, "direction": "out", "status": "read"}),
        "https://crm.example/hook",
        {"instance": "loja"},
    )
    assert url == "https://crm.example/hook"
    data = json.loads(body)["data"]
    assert (json.loads(body)["event"], data["status"], data["keyId"]) == (
        "messages.update",
        "READ",
        "3EB0AAA",
    )


def test_connection_states_map_to_open_connecting_close() -> None:
    assert connection_state("ready") == "open"
    assert connection_state("qr_ready") == "connecting"
    assert connection_state("reconnecting") == "connecting"
    assert connection_state("logged_out") == "close"
    assert connection_state("idle") == "close"


def test_subscriptions_translate_and_group_update_has_both_spellings() -> None:
    assert zapgate_types(["MESSAGES_UPSERT", "MESSAGES_UPDATE"]) == [
        "message.received",
        "message.status",
        "message.failed",
        "message.poll_vote",
    ]
    assert zapgate_types(["PRESENCE_UPDATE"]) == ["presence.updated"]
    assert zapgate_types(["GROUPS_UPSERT"]) == ["group.participants"]
    assert zapgate_types(["GROUP_UPDATE"]) == zapgate_types(["GROUPS_UPDATE"])


def test_edits_and_deletes_take_evolution_names_and_shapes() -> None:
    edited = {**MESSAGE, "text": "Oi!", "edited_at": "2026-01-02T03:10:00Z"}
    url, body = evolution_body(_envelope("message.edited", edited), "https://h/x", {})
    sent = json.loads(body)
    assert sent["event"] == "messages.edited"
    assert sent["data"] == {
        "key": {
            "remoteJid": "5511988887777@s.whatsapp.net",
            "fromMe": False,
            "remoteJidAlt": "123456@lid",
            "id": "3EB0AAA",
        },
        "type": "MESSAGE_EDIT",
        "editedMessage": {"conversation": "Oi!"},
        "timestampMs": "1767323400000",
    }
    ours = {**edited, "direction": "out"}
    url, body = evolution_body(
        _envelope("message.edited", ours), "https://h/x", {"by_events": True}
    )
    assert json.loads(body)["event"] == "send.message.update"
    assert url == "https://h/x/send-message-update"
    revoked = {**MESSAGE, "revoked_at": "2026-01-02T03:10:00Z"}
    _, body = evolution_body(_envelope("message.revoked", revoked), "https://h/x", {})
    deleted = json.loads(body)
    assert (deleted["event"], deleted["data"]["status"]) == ("messages.delete", "DELETED")
    assert zapgate_types(["MESSAGES_EDITED"]) == ["message.edited"]
    assert zapgate_types(["SEND_MESSAGE_UPDATE", "MESSAGES_DELETE"]) == [
        "message.edited",
        "message.revoked",
    ]


def test_a_text_with_mentions_is_a_conversation_with_context_info() -> None:
    # Evolution (since 2.2) turns extendedTextMessage into a conversation and puts its
    # contextInfo beside the message.
    mentioned = {
        **MESSAGE,
        "mentions": [{"phone": "5511977776666", "jid": "5511977776666@s.whatsapp.net"}],
    }
    record = message_record(mentioned, instance_id="c1")
    assert record["messageType"] == "conversation"
    assert record["message"] == {"conversation": "Oi"}
    assert record["contextInfo"] == {"mentionedJid": ["5511977776666@s.whatsapp.net"]}
    assert "contextInfo" not in message_record(MESSAGE, instance_id="c1")


def test_a_poll_vote_is_messages_update_with_poll_updates() -> None:
    poll = {
        **MESSAGE,
        "direction": "out",
        "from": None,
        "type": "poll",
        "status": "read",
        "text": "Size?",
        "poll": {
            "question": "Size?",
            "options": ["S", "M"],
            "multiple": True,
            "tally": {"S": 1, "M": 2},
            "voters": [
                {"jid": "9@lid", "phone": "5511988887777", "options": ["S", "M"]},
                {"jid": "77@lid", "phone": None, "options": ["M"]},
            ],
        },
        "vote": {"voter": {"phone": "5511988887777"}, "options": ["S", "M"]},
    }
    assert "message.poll_vote" in zapgate_types(["MESSAGES_UPDATE"])
    _, body = evolution_body(_envelope("message.poll_vote", poll), "https://crm.example/h", {})
    sent = json.loads(body)
    assert sent["event"] == "messages.update"
    assert sent["data"]["keyId"] == "3EB0AAA"
    assert sent["data"]["fromMe"] is True
    assert sent["data"]["status"] == "READ"
    assert sent["data"]["pollUpdates"] == [
        {"name": "S", "voters": ["5511988887777@s.whatsapp.net"]},
        {"name": "M", "voters": ["5511988887777@s.whatsapp.net", "77@lid"]},
    ]
    record = message_record(poll, instance_id="c1")
    assert record["messageType"] == "pollCreationMessage"
    assert record["message"]["pollCreationMessage"] == {
        "name": "Size?",
        "options": [{"optionName": "S"}, {"optionName": "M"}],
        "selectableOptionsCount": 0,
    }


def test_a_join_is_an_upsert_when_the_instance_jid_names_its_device() -> None:
    joined = {"action": "add", "participants": [{"jid": "5511999990001@s.whatsapp.net"}]}
    by_phone = {"action": "add", "participants": [{"phone": "5511999990001"}]}
    device = "5511999990001:12@s.whatsapp.net"  # neonize's stored JID
    assert event_name("group.participants", joined, device) == "groups.upsert"
    assert event_name("group.participants", by_phone, device) == "groups.upsert"
    other = {"action": "add", "participants": [{"jid": "5511977770001@s.whatsapp.net"}]}
    assert event_name("group.participants", other, device) == "group-participants.update"


def test_the_events_that_never_fire_are_documented() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "evolution.md").read_text()
    assert NEVER_FIRED
    assert [name for name in sorted(NEVER_FIRED) if f"`{name}`" not in docs] == []


def test_sender_is_the_account_without_the_device() -> None:
    # Webhooks saved earlier stored the instance's JID with its device.
    _, body = evolution_body(
        _envelope("message.received", MESSAGE),
        "https://crm.example/hook",
        {"instance": "loja", "sender": "5511999990001:12@s.whatsapp.net"},
    )
    assert json.loads(body)["sender"] == "5511999990001@s.whatsapp.net"
