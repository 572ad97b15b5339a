"""The panel's password change: the current password first; other sessions end."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, login
from tests.integration.web.panel import Panel
from zapgate.store.tables.accounts import UserRow

NEW = "a-new-password-1"


async def _second_browser(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app), base_url="http://test")


async def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(
    server: Server, client: httpx.AsyncClient
) -> None:
    here = Panel(client)
    await here.login()
    token = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    async with await _second_browser(server) as other_browser:
        there = Panel(other_browser)
        await there.login()
        await here.get("/app/settings")
        changed = await here.post(
            "/app/settings/profile",
            {"name": "Dona", "password": NEW, "current_password": ADMIN_PASSWORD},
        )
        assert changed.status_code == 200, changed.text
        assert changed.headers["hx-location"] == "/app/settings"
        page = await here.get("/app/settings")
        assert page.status_code == 200
        assert "Dona" in page.text
        ended = await other_browser.get("/app")
        assert ended.status_code == 303
        assert ended.headers["location"] == "/app/login"
    stale = await client.get("/api/v1/me", headers=token)
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "invalid_token"
    await login(client, ADMIN_EMAIL, NEW)


async def test_the_profile_asks_for_the_current_password(client: httpx.AsyncClient) -> None:
    panel = Panel(client)
    await panel.login()
    await panel.get("/app/settings")
    missing = await panel.post("/app/settings/profile", {"password": NEW})
    assert missing.status_code == 422
    assert "Type your current password" in missing.text
    wrong = await panel.post(
        "/app/settings/profile", {"password": NEW, "current_password": "not-it"}
    )
    assert wrong.status_code == 403
    assert "current password is wrong" in wrong.text
    assert (await panel.get("/app/settings")).status_code == 200
    await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)


async def test_a_session_ends_at_once_when_another_server_changes_the_password(
    server: Server, client: httpx.AsyncClient
) -> None:
    panel = Panel(client)
    await panel.login()
    token = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    user_id = (await client.get("/api/v1/me", headers=token)).json()["user"]["id"]
    async with server.runtime.db.write() as s:  # as another process would, cache untouched
        user = await s.get(UserRow, user_id)
        assert user is not None
        user.token_version += 1
    ended = await client.get("/app")
    assert ended.status_code == 303
    assert ended.headers["location"] == "/app/login"
