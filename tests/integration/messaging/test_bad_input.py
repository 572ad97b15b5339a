"""Bad input gets a clear 4xx or a failed message with a reason: never a 500 or silence."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from tests.conftest import Server, login
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import (
    CUSTOMER,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.config import Settings
from zapgate.util.clock import ManualClock


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(max_media_bytes=64 * 1024)


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_refusals(server: Server, admin: dict[str, str], clock: ManualClock) -> None:
    http = server.http
    cid = await ready_connection(server, admin, clock)
    first = await send(http, admin, {"to": CUSTOMER, "text": "hi"})
    cases = [
        ({"to": "abc", "text": "x"}, 422, "invalid_phone"),
        ({"to": "123", "text": "x"}, 422, "invalid_phone"),
        ({"to": "1203@g.us", "text": "x"}, 422, "invalid_jid"),
        ({"to": CUSTOMER, "text": "  "}, 422, "missing_content"),
        (
            {"to": CUSTOMER, "type": "image", "media": {"media_id": "01a2-nope"}},
            404,
            "media_not_found",
        ),
        (
            {"to": CUSTOMER, "type": "image", "media": {"url": "http://127.0.0.1:5432/x.png"}},
            422,
            "url_not_allowed",
        ),
        (
            {
                "to": CUSTOMER,
                "type": "image",
                "media": {"url": "http://169.254.169.254/latest/meta-data/"},
            },
            422,
            "url_not_allowed",
        ),
        (
            {"to": CUSTOMER, "type": "image", "media": {"url": "file:///etc/passwd"}},
            422,
            "invalid_url",
        ),
        (
            {"to": CUSTOMER, "type": "image", "media": {"base64": "!!notbase64"}},
            422,
            "invalid_media",
        ),
        (
            {
                "to": CUSTOMER,
                "text": "x",
                "send_at": (clock.now() - timedelta(hours=1)).isoformat(),
            },
            422,
            "send_at_in_past",
        ),
        (
            {
                "to": CUSTOMER,
                "text": "x",
                "send_at": (clock.now() + timedelta(days=4000)).isoformat(),
            },
            422,
            "send_at_too_far",
        ),
        (
            {
                "to": CUSTOMER,
                "type": "reaction",
                "reaction": {"message_id": "3EB0UNKNOWN", "emoji": "x"},
            },
            422,
            "unknown_message",
        ),
        ({"to": CUSTOMER, "text": "x", "reply_to": "3EB0UNKNOWN"}, 422, "unknown_message"),
        (
            {"to": CUSTOMER, "text": "x", "connection_id": "01a2bad0-0000-7000-8000-000000000000"},
            404,
            "connection_not_found",
        ),
        ({"to": CUSTOMER, "type": "sticker", "text": "x"}, 422, "missing_content"),
        ({"to": CUSTOMER, "text": "x", "surprise": 1}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = await http.post(f"{API}/messages", headers=admin, json=body)
        assert response.status_code == status, (body, response.text)
        assert error_code(response) == code, (body, response.text)

    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (70 * 1024)).decode()
    upload = await http.post(
        f"{API}/media",
        headers=admin,
        files={"file": ("big.png", base64.b64decode(big), "image/png")},
    )
    assert upload.status_code == 413
    assert error_code(upload) == "payload_too_large"  # refused before the route reads it
    too_big = await http.post(
        f"{API}/messages",
        headers=admin,
        json={"to": CUSTOMER, "type": "image", "media": {"base64": big}},
    )
    assert too_big.status_code == 413
    assert error_code(too_big) == "media_too_large"

    # A well-formed number that has no WhatsApp fails with a reason, and is remembered.
    nowhere = await send(http, admin, {"to": "5511999990000", "text": "x"})
    failed = await wait_status(server, admin, clock, nowhere["id"], "failed")
    assert failed["error_code"] == "not_on_whatsapp"
    assert failed["ack"] == 0
    checks = await http.post(
        f"{API}/connections/{cid}/check-numbers",
        headers=admin,
        json={"phones": ["5511999990000", "+55 11 98888-7777"]},
    )
    assert checks.json() == [
        {"phone": "5511999990000", "on_whatsapp": False, "jid": None},
        {"phone": CUSTOMER, "on_whatsapp": True, "jid": f"{CUSTOMER}@s.whatsapp.net"},
    ]
    bad_check = await http.post(
        f"{API}/connections/{cid}/check-numbers", headers=admin, json={"phones": ["nope"]}
    )
    assert bad_check.status_code == 422
    assert error_code(bad_check) == "invalid_phone"
    assert simulator(server).outbox(cid)[0].wa_message_id == first["wa_message_id"]


async def test_templates(server: Server, admin: dict[str, str], clock: ManualClock) -> None:
    http = server.http
    cid = await ready_connection(server, admin, clock)
    created = await http.post(
        f"{API}/templates",
        headers=admin,
        json={"name": "confirm", "body": "Olá {{name}}, seu horário é {{ time }}."},
    )
    assert created.status_code == 201
    template = created.json()
    assert template["variables"] == ["name", "time"]
    duplicate = await http.post(
        f"{API}/templates", headers=admin, json={"name": "confirm", "body": "x"}
    )
    assert duplicate.status_code == 409
    assert error_code(duplicate) == "template_exists"
    missing = await http.post(
        f"{API}/messages",
        headers=admin,
        json={"to": CUSTOMER, "template_id": template["id"], "variables": {"name": "Ana"}},
    )
    assert missing.status_code == 422
    assert error_code(missing) == "missing_variables"
    ok = await send(
        http,
        admin,
        {
            "to": CUSTOMER,
            "template_id": template["id"],
            "variables": {"name": "Ana", "time": "15h"},
        },
    )
    assert ok["text"] == "Olá Ana, seu horário é 15h."
    await wait_status(server, admin, clock, ok["id"], "sent", "delivered", "read")
    assert simulator(server).outbox(cid)[0].text == "Olá Ana, seu horário é 15h."
    patched = await http.patch(
        f"{API}/templates/{template['id']}", headers=admin, json={"body": "Oi"}
    )
    assert patched.json()["variables"] == []
    listed = await http.get(f"{API}/templates", headers=admin)
    assert len(listed.json()["items"]) == 1
    other = await http.post(f"{API}/templates", headers=admin, json={"name": "a_b", "body": "x"})
    assert other.status_code == 201
    for q, names in (("CONF", ["confirm"]), ("_", ["a_b"]), ("%", [])):
        found = await http.get(f"{API}/templates", headers=admin, params={"q": q})
        assert [t["name"] for t in found.json()["items"]] == names, q
    assert (
        await http.delete(f"{API}/templates/{template['id']}", headers=admin)
    ).status_code == 204
    gone = await http.get(f"{API}/templates/{template['id']}", headers=admin)
    assert gone.status_code == 404
    assert error_code(gone) == "template_not_found"


async def test_other_organizations_see_nothing(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    cid = await ready_connection(server, admin, clock)
    mine = await send(http, admin, {"to": CUSTOMER, "text": "private"})
    org = (await http.post(f"{API}/organizations", headers=admin, json={"name": "Other"})).json()
    user = await http.post(
        f"{API}/organizations/{org['id']}/users",
        headers=admin,
        json={"email": "eve@other.example", "password": "other-password-1", "role": "owner"},
    )
    assert user.status_code == 201, user.text
    eve = await login(http, "eve@other.example", "other-password-1")
    for path, code in (
        (f"/chats/{mine['chat_id']}", "chat_not_found"),
        (f"/chats/{mine['chat_id']}/messages", "chat_not_found"),
        (f"/messages/{mine['id']}", "message_not_found"),
        (f"/contacts/{mine['contact_id']}", "contact_not_found"),
        (f"/connections/{cid}/groups", "connection_not_found"),
    ):
        response = await http.get(f"{API}{path}", headers=eve)
        assert response.status_code == 404, path
        assert error_code(response) == code, path
    assert (await http.get(f"{API}/chats", headers=eve)).json()["items"] == []
    assert (await http.get(f"{API}/contacts", headers=eve)).json()["items"] == []
    hijack = await http.post(
        f"{API}/messages", headers=eve, json={"to": CUSTOMER, "text": "x", "connection_id": cid}
    )
    assert hijack.status_code == 404
    assert error_code(hijack) == "connection_not_found"
    no_conn = await http.post(f"{API}/messages", headers=eve, json={"to": CUSTOMER, "text": "x"})
    assert no_conn.status_code == 409
    assert error_code(no_conn) == "no_connection"
    patch = await http.patch(
        f"{API}/chats/{mine['chat_id']}", headers=eve, json={"status": "closed"}
    )
    assert patch.status_code == 404
    assert error_code(patch) == "chat_not_found"


async def test_inbox_filters_and_contacts(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    await ready_connection(server, admin, clock)
    sent = [
        await send(http, admin, {"to": f"55119888800{i:02d}", "text": f"t{i}"}) for i in range(5)
    ]
    page = (await http.get(f"{API}/chats?limit=2", headers=admin)).json()
    assert [c["id"] for c in page["items"]] == [sent[4]["chat_id"], sent[3]["chat_id"]]
    rest = (
        await http.get(f"{API}/chats?limit=10&cursor={page['next_cursor']}", headers=admin)
    ).json()
    assert [c["id"] for c in rest["items"]] == [s["chat_id"] for s in reversed(sent[:3])]
    assert rest["next_cursor"] is None
    bad = await http.get(f"{API}/chats?cursor=zzz", headers=admin)
    assert bad.status_code == 422
    assert error_code(bad) == "invalid_cursor"
    contact = await http.patch(
        f"{API}/contacts/{sent[0]['contact_id']}",
        headers=admin,
        json={
            "name": "Carla",
            "email": "carla@example.com",
            "company": "ACME",
            "tags": ["vip", "sp"],
            "notes": "likes mornings",
            "custom_fields": {"plan": "gold"},
        },
    )
    assert contact.status_code == 200, contact.text
    assert contact.json()["tags"] == ["vip", "sp"]
    by_tag = (await http.get(f"{API}/contacts?tag=vip", headers=admin)).json()["items"]
    assert [c["id"] for c in by_tag] == [sent[0]["contact_id"]]
    by_q = (await http.get(f"{API}/contacts?q=carl", headers=admin)).json()["items"]
    assert [c["name"] for c in by_q] == ["Carla"]
    chats_q = (await http.get(f"{API}/chats?q=carla", headers=admin)).json()["items"]
    assert [c["id"] for c in chats_q] == [sent[0]["chat_id"]]
    bad_email = await http.patch(
        f"{API}/contacts/{sent[0]['contact_id']}", headers=admin, json={"email": "nope"}
    )
    assert bad_email.status_code == 422
    assert error_code(bad_email) == "invalid_email"
    assigned = await http.patch(
        f"{API}/chats/{sent[1]['chat_id']}",
        headers=admin,
        json={"assignee_id": None, "status": "active"},
    )
    assert assigned.json()["status"] == "active"
    active = (await http.get(f"{API}/chats?status=active", headers=admin)).json()["items"]
    assert [c["id"] for c in active] == [sent[1]["chat_id"]]
    history = (await http.get(f"{API}/chats/{sent[0]['chat_id']}/messages", headers=admin)).json()
    assert [m["id"] for m in history["items"]] == [sent[0]["id"]]
