"""An agent downloads only the files of chats it may see (its own and unassigned ones);
the organization's uploads that no message carries yet stay open to every member."""

from __future__ import annotations

import base64

import httpx

from tests.conftest import Server, eventually, login
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import CUSTOMER, ready_connection, send
from tests.integration.messaging.test_visibility import OTHER, _user
from tests.integration.web.panel import Panel
from zapgate.util.clock import ManualClock

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(48))
MISSING = "019a0000-0000-7000-8000-000000000000"


async def _upload(http: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    response = await http.post(
        f"{API}/media", headers=headers, files={"file": (name, PNG + name.encode(), "image/png")}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_an_agent_cannot_download_the_files_of_another_agents_chat(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    ana_id = await _user(server, admin, "ana@example.com", "agent")
    await _user(server, admin, "bia@example.com", "agent")
    await _user(server, admin, "max@example.com", "manager")
    ana = await login(http, "ana@example.com", "agent-pass-123")
    bia = await login(http, "bia@example.com", "agent-pass-123")
    manager = await login(http, "max@example.com", "manager-pass-123")

    cid = await ready_connection(server, admin, clock)
    for phone in (CUSTOMER, OTHER):
        sent = await http.post(
            f"{API}/simulator/connections/{cid}/incoming",
            headers=admin,
            json={
                "from": phone,
                "type": "image",
                "media": {
                    "base64": base64.b64encode(PNG + phone.encode()).decode(),
                    "mimetype": "image/png",
                },
            },
        )
        assert sent.status_code == 200, sent.text
    chats: dict[str, str] = {}

    async def both_chats() -> bool:
        items = (await http.get(f"{API}/chats", headers=admin)).json()["items"]
        chats.update({c["jid"].split("@")[0]: c["id"] for c in items})
        return len(chats) == 2

    await eventually(both_chats, what="both chats stored")
    assigned = await http.patch(
        f"{API}/chats/{chats[CUSTOMER]}", headers=admin, json={"assignee_id": ana_id}
    )
    assert assigned.status_code == 200, assigned.text

    async def received(phone: str) -> str:
        page = await http.get(f"{API}/chats/{chats[phone]}/messages", headers=admin)
        return str(page.json()["items"][0]["media"]["media_id"])

    anas_file, open_file = await received(CUSTOMER), await received(OTHER)
    # An upload sent into ana's chat belongs to it; one not sent yet belongs to everyone.
    sent_in_anas = await _upload(http, admin, "sent.png")
    await send(http, admin, {"to": CUSTOMER, "type": "image", "media": {"media_id": sent_in_anas}})
    not_sent = await _upload(http, admin, "draft.png")

    missing = await http.get(f"{API}/media/{MISSING}", headers=bia)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "media_not_found"
    for hidden in (anas_file, sent_in_anas):
        refused = await http.get(f"{API}/media/{hidden}", headers=bia)
        assert refused.status_code == 404, hidden
        assert refused.json() == missing.json()
        reused = await http.post(
            f"{API}/messages",
            headers=bia,
            json={"to": OTHER, "type": "image", "media": {"media_id": hidden}},
        )
        assert reused.status_code == 404, reused.text
        assert reused.json()["error"]["code"] == "media_not_found"
    for headers, files in (
        (bia, (open_file, not_sent)),
        (ana, (anas_file, sent_in_anas, open_file, not_sent)),
        (manager, (anas_file, sent_in_anas, open_file, not_sent)),
        (admin, (anas_file, sent_in_anas, open_file, not_sent)),
    ):
        for media_id in files:
            download = await http.get(f"{API}/media/{media_id}", headers=headers)
            assert download.status_code == 200, (media_id, download.text)
            assert download.content.startswith(PNG)

    # The panel answers the same, with its own page.
    panel = Panel(http)
    await panel.login("bia@example.com", "agent-pass-123")
    for hidden in (anas_file, sent_in_anas):
        page = await panel.get(f"/app/media/{hidden}")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "This file does not exist." in page.text
    for media_id in (open_file, not_sent):
        page = await panel.get(f"/app/media/{media_id}")
        assert page.status_code == 200
        assert page.content.startswith(PNG)

    # Unassigned again, the chat and its files are everyone's.
    released = await http.patch(
        f"{API}/chats/{chats[CUSTOMER]}", headers=admin, json={"assignee_id": None}
    )
    assert released.status_code == 200, released.text
    again = await http.get(f"{API}/media/{anas_file}", headers=bia)
    assert again.status_code == 200
