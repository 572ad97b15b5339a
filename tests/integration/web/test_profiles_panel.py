"""The panel's behaviour settings form, contact picture and block action without a
browser (SQLite and PostgreSQL): saved, refused beside its field with the form kept, the
proxy's password on no page."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import ready_connection
from tests.integration.web.panel import Panel, untranslated
from zapgate.util.clock import ManualClock

ANA = "5511977770001"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(40))
PASSWORD = "Prx-pa55-77c1"


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


async def submit(panel: Panel, path: str, page: str, **fields: str) -> httpx.Response:
    """A plain form post, as a browser without scripts sends it."""
    await panel.get(page)
    return await panel.http.post(path, data={"csrf_token": panel.csrf, **fields})


async def test_settings_are_saved_and_refusals_keep_the_form(
    server: Server, panel: Panel, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    page = f"/app/connections/{cid}"
    shown = await panel.get(page)
    assert 'data-testid="behaviour-form"' in shown.text
    assert not untranslated(shown.text)

    saved = await submit(
        panel,
        f"{page}/settings",
        page,
        reject_calls="true",
        reject_call_message="Só por mensagem",
        ignore_groups="true",
        sync_history="full",
        proxy_url=f"socks5://joao:{PASSWORD}@10.2.3.4:1080",
    )
    assert saved.status_code == 303, saved.text
    conn = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert (conn["reject_calls"], conn["ignore_groups"], conn["auto_read"]) == (True, True, False)
    assert conn["reject_call_message"] == "Só por mensagem"
    assert conn["sync_history"] == "full"
    assert conn["proxy_url"] == "socks5://joao:***@10.2.3.4:1080"
    again = await panel.get(page)
    assert "socks5://joao:***@10.2.3.4:1080" in again.text
    assert PASSWORD not in again.text

    refused = await submit(
        panel,
        f"{page}/settings",
        page,
        auto_read="true",
        reject_call_message="outra",
        proxy_url=f"ftp://joao:{PASSWORD}@10.2.3.4:21",
    )
    assert refused.status_code == 422
    assert 'data-testid="error-proxy_url"' in refused.text
    assert 'data-testid="proxy-withheld"' in refused.text
    assert PASSWORD not in refused.text
    assert ">outra</textarea>" in refused.text
    assert 'id="bs-auto_read" checked' in refused.text
    unchanged = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert unchanged["auto_read"] is False
    assert unchanged["proxy_url"] == "socks5://joao:***@10.2.3.4:1080"

    cleared = await submit(panel, f"{page}/settings", page, proxy_clear="true")
    assert cleared.status_code == 303
    final = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert final["proxy_url"] is None
    # An unticked box is a flag turned off.
    assert final["reject_calls"] is False


async def test_picture_and_block_in_the_conversation(
    server: Server, panel: Panel, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    await server.http.post(
        f"{API}/simulator/contacts/profile",
        headers=admin,
        json={
            "phone": ANA,
            "picture": {"base64": base64.b64encode(JPEG).decode(), "mimetype": "image/jpeg"},
        },
    )
    await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=admin,
        json={"from": ANA, "text": "oi"},
    )
    chats: list[dict[str, str]] = []

    async def stored() -> bool:
        chats[:] = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
        return bool(chats)

    await eventually(stored, what="the chat")
    chat_id, contact_id = chats[0]["id"], chats[0]["contact_id"]
    page = f"/app/inbox/{chat_id}"
    html = (await panel.get(page)).text
    assert f'src="/app/contacts/{contact_id}/picture"' in html
    image = await panel.get(f"/app/contacts/{contact_id}/picture")
    assert image.status_code == 200
    assert image.content == JPEG
    assert image.headers["x-content-type-options"] == "nosniff"

    blocked = await submit(panel, f"/app/inbox/contacts/{contact_id}/block", page, chat_id=chat_id)
    assert blocked.status_code == 303
    assert blocked.headers["location"] == page
    html = (await panel.get(page)).text
    assert 'data-testid="blocked-badge"' in html
    assert f"/app/inbox/contacts/{contact_id}/unblock" in html
    unblocked = await submit(
        panel, f"/app/inbox/contacts/{contact_id}/unblock", page, chat_id=chat_id
    )
    assert unblocked.status_code == 303
    contact = (await server.http.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
    assert contact["blocked"] is False
