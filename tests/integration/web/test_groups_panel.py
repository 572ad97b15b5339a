"""The group chat's side panel and the number's own profile form without a browser
(SQLite and PostgreSQL): the group as WhatsApp has it, every change through the group
use cases, refusals (not an admin, a bad phone, a wrong picture) inline with their code
and translated text, never an error page."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import ready_connection, simulator
from tests.integration.web.panel import Panel, untranslated
from zapgate.util.clock import ManualClock
from zapgate.web.i18n import Translator

ME = "5511999990001"
ANA = "5511977770001"
BIA = "5511977770002"
GHOST = "5511977770000"  # ends in 0000: not on WhatsApp
EN = Translator("en")


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


async def group_chat(server: Server, h: dict[str, str], cid: str, group: str) -> dict[str, Any]:
    """The inbox chat of ``group`` (a JID or a name), opened by a message from Ana."""
    await simulator(server).incoming(cid, from_phone=ANA, text="oi", push_name="Ana", group=group)
    found: list[dict[str, Any]] = []

    async def stored() -> bool:
        chats = (await server.http.get(f"{API}/chats", headers=h)).json()["items"]
        found[:] = [c for c in chats if c["is_group"]]
        return bool(found)

    await eventually(stored, what="the group chat")
    return found[0]


async def group(server: Server, h: dict[str, str], cid: str, jid: str) -> dict[str, Any]:
    response = await server.http.get(f"{API}/connections/{cid}/groups/{jid}", headers=h)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def admins(g: dict[str, Any]) -> set[str]:
    return {p["phone"] for p in g["participants"] if p["is_admin"]}


async def test_an_admin_number_manages_its_group_from_the_panel(
    server: Server, panel: Panel, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    made = await server.http.post(
        f"{API}/connections/{cid}/groups",
        headers=admin,
        json={"subject": "Clientes", "participants": [ANA]},
    )
    assert made.status_code == 201, made.text
    jid = made.json()["jid"]
    chat = await group_chat(server, admin, cid, jid)
    base = f"/app/inbox/{chat['id']}"

    page = await panel.get(base)
    assert f'hx-get="{base}/group"' in page.text
    assert 'data-testid="block-form"' not in page.text  # a group is no contact to block
    shown = await panel.get(f"{base}/group")
    assert shown.status_code == 200
    html = shown.text
    assert not untranslated(html)
    assert 'value="Clientes"' in html
    assert "+55 11 97777-0001" in html
    assert ">Ana</span>" in html
    assert html.count('data-testid="admin-badge"') == 1  # the number itself
    assert EN("group.participants", count=2) in html

    saved = await panel.post(base + "/group", {"subject": "Clientes VIP", "description": "avisos"})
    assert saved.status_code == 200, saved.text
    assert EN("group.saved") in saved.text
    g = await group(server, admin, cid, jid)
    assert (g["subject"], g["description"]) == ("Clientes VIP", "avisos")

    added = await panel.post(
        base + "/group/participants", {"action": "add", "phones": f"+{BIA}, {GHOST}"}
    )
    assert added.status_code == 200, added.text
    assert 'data-code="partial"' in added.text
    assert EN("group.result.not_on_whatsapp") in added.text
    assert BIA in {p["phone"] for p in (await group(server, admin, cid, jid))["participants"]}

    promoted = await panel.post(base + "/group/participants", {"action": "promote", "phones": BIA})
    assert promoted.status_code == 200
    assert EN("group.done.promote") in promoted.text
    assert promoted.text.count('data-testid="admin-badge"') == 2
    assert admins(await group(server, admin, cid, jid)) == {ME, BIA}
    demoted = await panel.post(base + "/group/participants", {"action": "demote", "phones": BIA})
    assert demoted.status_code == 200
    assert admins(await group(server, admin, cid, jid)) == {ME}
    removed = await panel.post(base + "/group/participants", {"action": "remove", "phones": BIA})
    assert removed.status_code == 200
    assert BIA not in {p["phone"] for p in (await group(server, admin, cid, jid))["participants"]}

    bad = await panel.post(base + "/group/participants", {"action": "add", "phones": "12ab"})
    assert bad.status_code == 422
    assert 'data-code="invalid_phone"' in bad.text
    assert EN("group.error.invalid_phone") in bad.text
    assert 'value="12ab"' in bad.text  # what was typed is kept
    assert 'data-testid="group-panel"' in bad.text  # the panel, not an error page

    first = await panel.post(base + "/group/invite")
    assert first.status_code == 200
    link = await server.http.get(f"{API}/connections/{cid}/groups/{jid}/invite", headers=admin)
    assert f'data-testid="invite-link">{link.json()["url"]}<' in first.text
    revoked = await panel.post(base + "/group/invite", {"revoke": "true"})
    assert EN("group.invite_revoked") in revoked.text
    assert link.json()["url"] not in revoked.text
    assert "https://chat.whatsapp.com/" in revoked.text

    left = await panel.post(base + "/group/leave")
    assert left.status_code == 200
    assert left.headers["hx-location"] == base
    after = await panel.get(f"{base}/group")
    assert 'data-code="group_not_found"' in after.text
    assert EN("group.error.group_not_found") in after.text


async def test_a_member_that_is_not_admin_is_refused_inline(
    server: Server, panel: Panel, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    chat = await group_chat(server, admin, cid, "Família")
    base = f"/app/inbox/{chat['id']}"
    shown = await panel.get(f"{base}/group")
    assert 'data-testid="group-not-admin"' in shown.text
    assert 'data-testid="group-info-form"' not in shown.text
    assert 'data-testid="promote"' not in shown.text

    # A stale page (the number was an admin when it loaded) still posts: WhatsApp refuses.
    refused = await panel.post(base + "/group/participants", {"action": "remove", "phones": ANA})
    assert refused.status_code == 403
    assert 'data-code="not_group_admin"' in refused.text
    assert EN("group.error.not_group_admin") in refused.text
    assert 'data-testid="group-panel"' in refused.text
    no_link = await panel.post(base + "/group/invite")
    assert no_link.status_code == 403
    assert 'data-code="not_group_admin"' in no_link.text

    await simulator(server).incoming(cid, from_phone=BIA, text="oi")
    chats: list[dict[str, Any]] = []

    async def one_to_one() -> bool:
        chats[:] = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
        return any(not c["is_group"] for c in chats)

    await eventually(one_to_one, what="the 1:1 chat")
    single = next(c for c in chats if not c["is_group"])
    not_group = await panel.post(f"/app/inbox/{single['id']}/group/invite")
    assert not_group.status_code == 422
    assert EN("error.not_a_group") in not_group.text


async def test_own_profile_form_saves_and_refuses_inline(
    server: Server, panel: Panel, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    page = f"/app/connections/{cid}"
    shown = await panel.get(page)
    assert 'data-testid="profile-form"' in shown.text
    assert not untranslated(shown.text)
    url = f"/app/send/profile/{cid}"
    assert f'action="{url}"' in shown.text

    saved = await panel.http.post(
        url,
        data={"csrf_token": panel.csrf, "name": "Barbearia Modelo", "status": "Aberto 9h-18h"},
    )
    assert saved.status_code == 303, saved.text
    conn = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert (conn["push_name"], conn["profile_status"]) == ("Barbearia Modelo", "Aberto 9h-18h")
    again = await panel.get(saved.headers["location"])
    assert 'value="Barbearia Modelo"' in again.text
    assert ">Aberto 9h-18h</textarea>" in again.text
    assert 'data-testid="profile-saved"' in again.text

    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    wrong = await panel.http.post(
        url,
        data={"csrf_token": panel.csrf, "name": "Barbearia Nova", "status": "Aberto 9h-18h"},
        files={"picture": ("p.png", png.getvalue(), "image/png")},
    )
    assert wrong.status_code == 422
    assert 'data-testid="profile-error-picture" data-code="invalid_picture"' in wrong.text
    assert EN("own_profile.error.invalid_picture") in wrong.text
    assert 'value="Barbearia Nova"' in wrong.text  # the form is kept
    unchanged = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert unchanged["push_name"] == "Barbearia Modelo"

    too_long = await panel.http.post(
        url, data={"csrf_token": panel.csrf, "name": "x" * 30, "status": "Aberto 9h-18h"}
    )
    assert too_long.status_code == 422
    assert 'data-code="invalid_name"' in too_long.text
    nothing = await panel.http.post(
        url, data={"csrf_token": panel.csrf, "name": "Barbearia Modelo", "status": "Aberto 9h-18h"}
    )
    assert nothing.status_code == 422
    assert 'data-testid="profile-error-form" data-code="empty_update"' in nothing.text

    pictured = await panel.http.post(
        url,
        data={"csrf_token": panel.csrf, "name": "Barbearia Modelo", "status": "Aberto 9h-18h"},
        files={"picture": ("p.jpg", jpeg(), "image/jpeg")},
    )
    assert pictured.status_code == 303, pictured.text
    conn = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert conn["profile_picture_media_id"]
    assert EN("own_profile.picture_set") in (await panel.get(page)).text


async def test_agents_see_no_profile_form_and_no_group_changes(
    server: Server, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    made = await server.http.post(
        f"{API}/connections/{cid}/groups",
        headers=admin,
        json={"subject": "Clientes", "participants": [ANA]},
    )
    chat = await group_chat(server, admin, cid, made.json()["jid"])
    created = await server.http.post(
        f"{API}/users",
        headers=admin,
        json={"email": "agent@acme.test", "password": "agent-password-1", "role": "agent"},
    )
    assert created.status_code == 201, created.text
    agent = Panel(client)
    await agent.login("agent@acme.test", "agent-password-1")
    detail = await agent.get(f"/app/connections/{cid}")
    assert 'data-testid="profile-form"' not in detail.text
    refused = await agent.http.post(
        f"/app/send/profile/{cid}", data={"csrf_token": agent.csrf, "name": "Outro"}
    )
    # The form is not on an agent's page: a forged post gets the panel's error page.
    assert refused.status_code == 403
    assert EN("error.forbidden") in refused.text
    shown = await agent.get(f"/app/inbox/{chat['id']}/group")
    assert "+55 11 97777-0001" in shown.text
    assert 'data-testid="group-info-form"' not in shown.text
    assert 'data-testid="leave-group"' not in shown.text
    promote = await agent.post(
        f"/app/inbox/{chat['id']}/group/participants", {"action": "promote", "phones": ANA}
    )
    assert promote.status_code == 403
    assert 'data-code="forbidden"' in promote.text
