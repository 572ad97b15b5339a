"""A NUL character (U+0000) from our users is a 422 ``invalid_character`` naming the field.

PostgreSQL cannot store a NUL (SQLite can): these requests answered 500 there. Each
test runs on both databases, which must answer alike, and checks nothing was stored.
"""

from __future__ import annotations

import base64
import gc
from typing import Any

import httpx

from tests.conftest import ADMIN_EMAIL, Server, eventually
from tests.integration.api.helpers import API, create_connection
from tests.integration.messaging.kit import CUSTOMER, ready_connection
from zapgate.util.clock import ManualClock

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
REFUSED = "must not contain the NUL character (U+0000)"


def refused(response: httpx.Response, loc: list[str]) -> str:
    """The message of a 422 ``invalid_character`` for the field at ``loc``."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_character", error
    assert error["details"][0]["loc"] == loc
    assert error["details"][0]["type"] == "invalid_character"
    message: str = error["message"]
    assert message.startswith(f"{'.'.join(loc[1:])}: {REFUSED}"), message
    return message


async def test_a_name_in_a_body(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.post(f"{API}/connections", headers=admin, json={"name": "Sh\x00op"})
    refused(response, ["body", "name"])
    created = await create_connection(client, admin, "Shop")
    rename = await client.patch(
        f"{API}/connections/{created['id']}", headers=admin, json={"label": "\x00"}
    )
    refused(rename, ["body", "label"])
    listed = (await client.get(f"{API}/connections", headers=admin)).json()["items"]
    assert [(c["name"], c["label"]) for c in listed] == [("Shop", None)]


async def test_a_login_email(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/auth/login", json={"email": ADMIN_EMAIL + "\x00", "password": "whatever"}
    )
    refused(response, ["body", "email"])


async def test_searches_and_filters_in_the_query(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for path, name in [
        ("/contacts", "q"),
        ("/contacts", "tag"),
        ("/chats", "q"),
        ("/chats", "connection_id"),
        ("/connections", "q"),
        ("/templates", "q"),
        ("/events", "connection_id"),
    ]:
        response = await client.get(f"{API}{path}", headers=admin, params={name: "a\x00"})
        refused(response, ["query", name])
    # The raw query string, as a client may send it.
    raw = await client.get(f"{API}/contacts?limit=5&q=%00", headers=admin)
    refused(raw, ["query", "q"])
    # "%2500" is the text "%00": no NUL, no refusal.
    literal = await client.get(f"{API}/contacts?q=%2500", headers=admin)
    assert literal.status_code == 200, literal.text


async def test_ids_in_the_path(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for method, path, name in [
        ("GET", "/connections/%00", "connection_id"),
        ("GET", "/webhooks/x%00y", "webhook_id"),
        ("PATCH", "/users/%00", "user_id"),
        ("GET", "/contacts/%00", "contact_id"),
    ]:
        body = {"name": "x"} if method == "PATCH" else None
        response = await client.request(method, f"{API}{path}", headers=admin, json=body)
        refused(response, ["path", name])


async def test_a_contacts_crm_fields_and_custom_fields(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    cid = await ready_connection(server, admin, clock)
    sent = await http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=admin,
        json={"from": CUSTOMER, "text": "oi"},
    )
    assert sent.status_code == 200, sent.text

    async def contact() -> dict[str, Any] | None:
        items = (await http.get(f"{API}/contacts", headers=admin)).json()["items"]
        return items[0] if items else None

    async def known() -> bool:
        return await contact() is not None

    await eventually(known, what="the customer's contact")
    found = await contact()
    assert found is not None
    url = f"{API}/contacts/{found['id']}"
    value = await http.patch(url, headers=admin, json={"custom_fields": {"plan": "go\x00ld"}})
    assert "(in ['plan'])" in refused(value, ["body", "custom_fields"])
    nested = await http.patch(
        url, headers=admin, json={"custom_fields": {"plan": {"seats": [1, "t\x00wo"]}}}
    )
    assert "(in ['plan']['seats'][1])" in refused(nested, ["body", "custom_fields"])
    key = await http.patch(url, headers=admin, json={"custom_fields": {"pl\x00an": "gold"}})
    refused(key, ["body", "custom_fields"])
    tags = await http.patch(url, headers=admin, json={"tags": ["vip", "\x00"]})
    assert "(in [1])" in refused(tags, ["body", "tags"])
    notes = await http.patch(url, headers=admin, json={"notes": "a\x00", "name": "Ana"})
    refused(notes, ["body", "notes"])
    after = await http.get(url, headers=admin)
    assert after.json()["custom_fields"] == {}
    assert after.json()["tags"] == []
    assert after.json()["name"] is None
    ok = await http.patch(url, headers=admin, json={"custom_fields": {"plan": "gold"}})
    assert ok.status_code == 200, ok.text


async def test_a_message_and_its_nested_fields(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    await ready_connection(server, admin, clock)
    image = base64.b64encode(PNG).decode()
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"to": CUSTOMER, "text": "hi\x00"}, ["body", "text"]),
        (
            {"to": CUSTOMER, "type": "image", "media": {"base64": image, "caption": "\x00"}},
            ["body", "media", "caption"],
        ),
        (
            {"to": CUSTOMER, "type": "image", "media": {"base64": image, "filename": "a\x00.png"}},
            ["body", "media", "filename"],
        ),
        (
            {
                "to": CUSTOMER,
                "type": "location",
                "location": {"latitude": 1, "longitude": 2, "name": "Pra\x00ça"},
            },
            ["body", "location", "name"],
        ),
        (
            {"to": CUSTOMER, "type": "contact", "contact": {"name": "Bia", "vcard": "\x00"}},
            ["body", "contact", "vcard"],
        ),
    ]
    for body, loc in cases:
        refused(await http.post(f"{API}/messages", headers=admin, json=body), loc)
    keyed = await http.post(
        f"{API}/messages",
        headers={**admin, "Idempotency-Key": "order-\x001"},
        json={"to": CUSTOMER, "text": "hi"},
    )
    refused(keyed, ["header", "Idempotency-Key"])
    chats = (await http.get(f"{API}/chats", headers=admin)).json()["items"]
    assert chats == []


async def test_an_upload_file_name_and_form_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    boundary = "zapgate-test-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="ph\x00oto.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    named = await client.post(
        f"{API}/media",
        headers={**admin, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    refused(named, ["form", "file (file name)"])
    field = await client.post(
        f"{API}/media",
        headers=admin,
        files={"file": ("photo.png", PNG, "image/png")},
        data={"mimetype": "image/png\x00"},
    )
    refused(field, ["form", "mimetype"])
    fine = await client.post(
        f"{API}/media", headers=admin, files={"file": ("photo.png", PNG, "image/png")}
    )
    assert fine.status_code == 201, fine.text
    # A form sent where no form is read is not parsed for the check (its files would
    # be left unclosed): the route refuses the body as it always has.
    elsewhere = await client.post(
        f"{API}/connections",
        headers=admin,
        files={"file": ("ph\x00oto.png", PNG, "image/png")},
        data={"name": "\x00"},
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["error"]["code"] == "validation_error"
    gc.collect()  # an unclosed upload would warn here
