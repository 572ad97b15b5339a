"""Profiles through the API on the simulator: a contact's picture (lazy, cached, served
by us), block and unblock (and what WhatsApp then does), business accounts, the own
profile; and the proxy URL sealed at rest."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, eventually, login
from tests.integration.api.helpers import API, create_connection
from tests.integration.messaging.kit import drive, ready_connection, send, simulator, wait_status
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import ManualClock

ANA = "5511977770001"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(64))
JPEG2 = b"\xff\xd8\xff\xe0" + b"second picture" * 4


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


async def sim_profile(server: Server, h: dict[str, str], **body: Any) -> None:
    response = await server.http.post(
        f"{API}/simulator/contacts/profile", headers=h, json={"phone": ANA, **body}
    )
    assert response.status_code == 204, response.text


def picture(data: bytes) -> dict[str, str]:
    return {"base64": base64.b64encode(data).decode(), "mimetype": "image/jpeg"}


async def contact_of(server: Server, h: dict[str, str], cid: str, phone: str = ANA) -> str:
    """The contact of ``phone``, made by a message it sends to the connection."""
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=h,
        json={"from": phone, "text": "oi", "push_name": "Ana"},
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = []

    async def stored() -> bool:
        items = (await server.http.get(f"{API}/contacts", headers=h, params={"q": phone})).json()
        found[:] = items["items"]
        return bool(found)

    await eventually(stored, what="the contact stored")
    return str(found[0]["id"])


async def later(server: Server, clock: ManualClock, hours: float) -> dict[str, str]:
    """``hours`` pass (plus a second); the access token expired meanwhile: a new one."""
    await clock.advance(timedelta(hours=hours, seconds=1).total_seconds())
    return await login(server.http, ADMIN_EMAIL, ADMIN_PASSWORD)


async def texts(server: Server, h: dict[str, str]) -> list[str]:
    out: list[str] = []
    for chat in (await server.http.get(f"{API}/chats", headers=h)).json()["items"]:
        items = (await server.http.get(f"{API}/chats/{chat['id']}/messages", headers=h)).json()
        out += [m["text"] for m in items["items"] if m["text"]]
    return sorted(out)


async def test_a_contacts_picture_is_fetched_once_cached_and_refreshed_after_expiry(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    contact = await contact_of(server, admin, cid)
    url = f"{API}/contacts/{contact}/picture"

    none = await server.http.get(url, headers=admin)
    assert none.status_code == 404
    assert code(none) == "picture_not_found"

    await sim_profile(server, admin, picture=picture(JPEG), is_business=True)
    # "Has none" is trusted for an hour: still none.
    assert (await server.http.get(url, headers=admin)).status_code == 404
    admin = await later(server, clock, 1)
    got = await server.http.get(url, headers=admin)
    assert got.status_code == 200, got.text
    assert got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert got.headers["cache-control"].startswith("private")

    shown = (await server.http.get(f"{API}/contacts/{contact}", headers=admin)).json()
    assert shown["picture_url"] == f"/api/v1/contacts/{contact}/picture"
    assert shown["is_business"] is True

    # Cached: the contact changes it, we keep answering the stored one for a day.
    await sim_profile(server, admin, picture=picture(JPEG2))
    assert (await server.http.get(url, headers=admin)).content == JPEG
    admin = await later(server, clock, 24)
    second = await server.http.get(url, headers=admin)
    assert second.content == JPEG2, second.text

    # Removed: after the next expiry, 404 again.
    await sim_profile(server, admin, picture=None)
    admin = await later(server, clock, 24)
    gone = await server.http.get(url, headers=admin)
    assert gone.status_code == 404
    assert code(gone) == "picture_not_found"
    events = (
        await server.http.get(f"{API}/events", headers=admin, params={"types": "contact.updated"})
    ).json()["items"]
    assert [e["data"]["picture_url"] is not None for e in events][-2:] == [True, False]


async def test_picture_failures_answer_clear_codes(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    missing = await server.http.get(f"{API}/contacts/nope/picture", headers=admin)
    assert missing.status_code == 404
    assert code(missing) == "contact_not_found"
    cid = await ready_connection(server, admin, clock)
    contact = await contact_of(server, admin, cid)
    stopped = await server.http.post(f"{API}/connections/{cid}/stop", headers=admin)
    assert stopped.status_code == 202, stopped.text
    # Never asked and no connection can ask: not a pretend "no picture".
    answer = await server.http.get(f"{API}/contacts/{contact}/picture", headers=admin)
    assert answer.status_code == 409
    assert code(answer) == "connection_not_ready"


async def test_blocking_stops_their_messages_and_our_sends_until_unblocked(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    contact = await contact_of(server, admin, cid)

    blocked = await server.http.post(f"{API}/contacts/{contact}/block", headers=admin)
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["blocked"] is True
    assert blocked.json()["connections"] == [cid]
    activity = (
        await server.http.get(f"{API}/simulator/connections/{cid}/activity", headers=admin)
    ).json()
    assert activity["blocked"] == [ANA]
    assert (await server.http.get(f"{API}/contacts/{contact}", headers=admin)).json()["blocked"]

    # Their messages never arrive; our sends fail clearly.
    await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=admin,
        json={"from": ANA, "text": "você me bloqueou?"},
    )
    accepted = await send(server.http, admin, {"to": ANA, "text": "oi", "connection_id": cid})
    failed = await wait_status(server, admin, clock, accepted["id"], "failed")
    assert failed["error_code"] == "contact_blocked"

    unblocked = await server.http.post(f"{API}/contacts/{contact}/unblock", headers=admin)
    assert unblocked.status_code == 200
    assert unblocked.json()["blocked"] is False
    await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=admin,
        json={"from": ANA, "text": "agora sim"},
    )

    async def arrived() -> bool:
        return "agora sim" in await texts(server, admin)

    await eventually(arrived, what="a message after the unblock")
    assert "você me bloqueou?" not in await texts(server, admin)
    accepted = await send(server.http, admin, {"to": ANA, "text": "de volta", "connection_id": cid})
    await wait_status(server, admin, clock, accepted["id"], "sent", "delivered", "read")


async def test_block_needs_a_ready_connection_and_a_manager(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    contact = await contact_of(server, admin, cid)
    await server.http.post(f"{API}/connections/{cid}/stop", headers=admin)
    answer = await server.http.post(f"{API}/contacts/{contact}/block", headers=admin)
    assert answer.status_code == 409
    assert code(answer) == "connection_not_ready"
    unknown = await server.http.post(f"{API}/contacts/nope/block", headers=admin)
    assert unknown.status_code == 404
    assert code(unknown) == "contact_not_found"
    assert not (await server.http.get(f"{API}/contacts/{contact}", headers=admin)).json()["blocked"]


async def test_own_profile_name_status_and_picture(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    upload = await server.http.post(
        f"{API}/media", headers=admin, files={"file": ("me.jpg", JPEG, "image/jpeg")}
    )
    assert upload.status_code == 201, upload.text
    media_id = upload.json()["id"]
    answer = await server.http.patch(
        f"{API}/connections/{cid}/profile",
        headers=admin,
        json={"name": "Loja da Ana", "status": "Seg a sex, 9h-18h", "picture_media_id": media_id},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["push_name"], body["profile_status"], body["profile_picture_media_id"]) == (
        "Loja da Ana",
        "Seg a sex, 9h-18h",
        media_id,
    )
    seen = (
        await server.http.get(f"{API}/simulator/connections/{cid}/activity", headers=admin)
    ).json()["profile"]
    assert seen["name"] == "Loja da Ana"
    assert seen["status"] == "Seg a sex, 9h-18h"
    assert seen["picture_sha256"] is not None
    again = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert again["profile_status"] == "Seg a sex, 9h-18h"


async def test_own_profile_refusals(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    url = f"{API}/connections/{cid}/profile"
    empty = await server.http.patch(url, headers=admin, json={})
    assert (empty.status_code, code(empty)) == (422, "empty_update")
    long = await server.http.patch(url, headers=admin, json={"name": "x" * 26})
    assert (long.status_code, code(long)) == (422, "validation_error")
    blank = await server.http.patch(url, headers=admin, json={"name": "   "})
    assert (blank.status_code, code(blank)) == (422, "validation_error")
    png = await server.http.post(
        f"{API}/media",
        headers=admin,
        files={"file": ("me.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "image/png")},
    )
    bad = await server.http.patch(url, headers=admin, json={"picture_media_id": png.json()["id"]})
    assert (bad.status_code, code(bad)) == (422, "invalid_picture")
    none = await server.http.patch(url, headers=admin, json={"picture_media_id": "missing"})
    assert (none.status_code, code(none)) == (404, "media_not_found")
    other = await create_connection(server.http, admin, "Idle")
    idle = await server.http.patch(
        f"{API}/connections/{other['id']}/profile", headers=admin, json={"status": "oi"}
    )
    assert (idle.status_code, code(idle)) == (409, "connection_not_ready")
    ghost = await server.http.patch(
        f"{API}/connections/nope/profile", headers=admin, json={"status": "oi"}
    )
    assert (ghost.status_code, code(ghost)) == (404, "connection_not_found")


async def test_the_proxy_url_is_sealed_at_rest_and_used_whole(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    answer = await server.http.patch(
        f"{API}/connections/{cid}",
        headers=admin,
        json={"proxy_url": "http://joao:s3cr3t-pw@proxy.example:3128"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["proxy_url"] == "http://joao:***@proxy.example:3128"
    async with server.runtime.db.read() as s:
        row = (await s.scalars(select(ConnectionRow).where(ConnectionRow.id == cid))).one()
    assert row.proxy_url == "http://joao:***@proxy.example:3128"
    assert row.proxy_secret is not None
    assert row.proxy_secret.startswith("v1:")
    assert "s3cr3t" not in row.proxy_secret
    # What the session dials with is the whole URL.
    whole = "http://joao:s3cr3t-pw@proxy.example:3128"
    assert server.runtime.supervisor.get(cid).behaviour.proxy_url == whole

    async def redialed() -> bool:
        session = simulator(server)._sessions.get(cid)
        return session is not None and session.spec.behaviour.proxy_url == whole

    await eventually(redialed, what="the session reopened through the proxy")


async def test_a_proxy_saved_in_plain_text_is_sealed_at_start(
    server: Server, admin: dict[str, str]
) -> None:
    cid = (await create_connection(server.http, admin))["id"]
    async with server.runtime.db.write() as s:
        row = await s.get(ConnectionRow, cid)
        assert row is not None
        row.proxy_url = "socks5://u:plainpw@10.1.2.3:1080"
    assert await server.runtime.connections.seal_stored() == 1
    async with server.runtime.db.read() as s:
        row = await s.get(ConnectionRow, cid)
        assert row is not None
        assert row.proxy_url == "socks5://u:***@10.1.2.3:1080"
        assert row.proxy_secret
        assert "plainpw" not in row.proxy_secret
    assert await server.runtime.connections.seal_stored() == 0


async def test_an_expired_picture_is_still_served_when_whatsapp_does_not_answer(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    contact = await contact_of(server, admin, cid)
    url = f"{API}/contacts/{contact}/picture"
    await sim_profile(server, admin, picture=picture(JPEG))
    assert (await server.http.get(url, headers=admin)).content == JPEG
    admin = await later(server, clock, 24)
    silenced = await server.http.post(f"{API}/simulator/connections/{cid}/silence", headers=admin)
    assert silenced.status_code == 204, silenced.text
    asking = asyncio.ensure_future(server.http.get(url, headers=admin))

    async def answered() -> bool:
        return asking.done()

    await drive(clock, answered, step=5, what="the picture request to time out")
    stale = asking.result()
    assert stale.status_code == 200, stale.text
    assert stale.content == JPEG
