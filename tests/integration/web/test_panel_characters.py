"""The panel refuses a NUL character (U+0000) in forms and queries: 422, in words.

PostgreSQL cannot store one: these were 500s there. Both databases answer alike.
"""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, eventually
from tests.integration.api.helpers import API, create_connection, link
from tests.integration.web.panel import Panel
from zapgate.util.clock import ManualClock

SAID_EN = "Text must not contain the NUL character (U+0000)."
SAID_PT = "O texto não pode conter o caractere NUL (U+0000)."


def refused(response: httpx.Response, said: str = SAID_EN) -> None:
    assert response.status_code == 422, response.text
    assert said in response.text


async def test_the_login_form(client: httpx.AsyncClient) -> None:
    panel = Panel(client)
    await panel.get("/app/login")
    login = await client.post(
        "/app/login",
        data={"email": ADMIN_EMAIL + "\x00", "password": ADMIN_PASSWORD, "csrf_token": panel.csrf},
    )
    refused(login)
    assert "zg_session" not in login.headers.get("set-cookie", "")


async def test_forms_of_a_signed_in_member(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    panel = Panel(http)
    await panel.login()
    created = await panel.post("/app/connections", {"name": "Lo\x00ja", "label": "x"})
    refused(created)
    assert created.headers["hx-retarget"] == "#toasts"
    assert (await http.get(f"{API}/connections", headers=admin)).json()["items"] == []

    conn = await create_connection(http, admin, "Loja")
    await link(http, admin, conn["id"], clock)
    sent = await http.post(
        f"{API}/simulator/connections/{conn['id']}/incoming",
        headers=admin,
        json={"from": "5511977776666", "text": "oi"},
    )
    assert sent.status_code == 200, sent.text
    contacts: list[dict[str, str]] = []

    async def known() -> bool:
        contacts[:] = (await http.get(f"{API}/contacts", headers=admin)).json()["items"]
        return bool(contacts)

    await eventually(known, what="the customer's contact")
    contact_id = contacts[0]["id"]
    custom = await panel.post(
        f"/app/inbox/contacts/{contact_id}",
        {"name": "Ana", "custom": "true", "cf_key": ["plan"], "cf_value": ["go\x00ld"]},
    )
    refused(custom)
    named = await panel.post(f"/app/inbox/contacts/{contact_id}", {"company": "\x00"})
    refused(named)
    contact = (await http.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
    assert (contact["name"], contact["company"], contact["custom_fields"]) == (None, None, {})

    # In the member's language.
    assert (await panel.post("/app/language", {"language": "pt-BR"})).status_code == 303
    key = await panel.post("/app/settings/api-keys", {"name": "crm\x00"})
    refused(key, SAID_PT)


async def test_queries_and_paths(client: httpx.AsyncClient) -> None:
    panel = Panel(client)
    await panel.login()
    search = await panel.get("/app/inbox", params={"q": "\x00"})
    refused(search)
    # A whole page, not a toast, when it is not an htmx request.
    assert "<html" in search.text
    listed = await panel.get("/app/inbox/list", params={"tab": "\x00"})
    refused(listed)
    path = await panel.get("/app/connections/%00")
    refused(path)
