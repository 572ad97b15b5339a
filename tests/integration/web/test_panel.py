"""The panel without a browser: sessions, CSRF, tenancy, escaping, languages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Server, login, running_server
from tests.integration.api.helpers import API, create_connection, link
from tests.integration.web.panel import Panel, untranslated
from zapgate.config import Settings
from zapgate.util.clock import ManualClock
from zapgate.web import i18n

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
EN = i18n.catalog("en")


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


async def test_root_and_pages_need_a_session(client: httpx.AsyncClient) -> None:
    root = await client.get("/")
    assert root.status_code == 303
    assert root.headers["location"] == "/app"
    page = await client.get("/app")
    assert page.status_code == 303
    assert page.headers["location"] == "/app/login"
    htmx = await client.get("/app/totals", headers={"hx-request": "true"})
    assert htmx.headers["hx-redirect"] == "/app/login"
    assert (await client.get("/app/events")).status_code == 401
    # Setup is gone once a user exists.
    assert (await client.get("/app/setup")).headers["location"] == "/app/login"


async def test_session_cookie_is_httponly_and_lax(client: httpx.AsyncClient) -> None:
    p = Panel(client)
    await p.get("/app/login")
    response = await client.post(
        "/app/login",
        data={"email": "admin@example.com", "password": "admin-password-1", "csrf_token": p.csrf},
    )
    cookie = response.headers["set-cookie"]
    assert "zg_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    client.cookies.delete("zg_session")
    wrong = await client.post(
        "/app/login",
        data={"email": "admin@example.com", "password": "nope-nope", "csrf_token": p.csrf},
    )
    assert wrong.status_code == 401
    assert "E-mail or password is wrong" in wrong.text


async def test_logout_ends_the_session(panel: Panel) -> None:
    out = await panel.post("/app/logout")
    assert out.status_code == 303
    assert (await panel.http.get("/app")).status_code == 303


async def test_csrf_is_required_for_every_unsafe_request(panel: Panel) -> None:
    plain = await panel.http.post("/app/connections", data={"name": "x"})
    assert plain.status_code == 403
    assert EN["error.csrf"] in plain.text
    forged = await panel.http.post("/app/connections", data={"name": "x", "csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert EN["error.csrf"] in forged.text
    htmx = await panel.http.post(
        "/app/connections", data={"name": "x"}, headers={"hx-request": "true"}
    )
    assert htmx.status_code == 403
    assert htmx.headers["hx-retarget"] == "#toasts"
    assert EN["error.csrf"] in htmx.text
    # Login forms are protected too (a pre-session token).
    fresh = httpx.AsyncClient(transport=panel.http._transport, base_url="http://test")
    async with fresh:
        refused = await fresh.post(
            "/app/login", data={"email": "admin@example.com", "password": "admin-password-1"}
        )
    assert refused.status_code == 403
    assert EN["error.csrf"] in refused.text
    ok = await panel.post("/app/connections", {"name": "Loja"})
    assert ok.status_code == 200


async def test_dashboard_escapes_connection_names(panel: Panel) -> None:
    created = await panel.post("/app/connections", {"name": HOSTILE, "label": "<b>x</b>"})
    assert created.status_code == 200
    page = await panel.get("/app")
    assert "<script>alert(1)" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;x&lt;/b&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_other_organizations_pages_are_404(
    server: Server, admin: dict[str, str], panel: Panel, clock: ManualClock
) -> None:
    http = server.http
    org = (await http.post(f"{API}/organizations", headers=admin, json={"name": "Other"})).json()
    response = await http.post(
        f"{API}/organizations/{org['id']}/users",
        headers=admin,
        json={"email": "other@example.com", "password": "other-password", "role": "owner"},
    )
    assert response.status_code == 201, response.text
    theirs = await login(http, "other@example.com", "other-password")
    conn = await create_connection(http, theirs, "Theirs")
    await link(http, theirs, conn["id"], clock)
    sent = await http.post(
        f"{API}/simulator/connections/{conn['id']}/incoming",
        headers=theirs,
        json={"from": "5511977776666", "text": "private"},
    )
    assert sent.status_code == 200, sent.text
    chat_id = await _first_chat(http, theirs)

    for path, code in (
        (f"/app/connections/{conn['id']}", "connection_not_found"),
        (f"/app/connections/{conn['id']}/qr", "connection_not_found"),
        (f"/app/connections/{conn['id']}/card", "connection_not_found"),
        (f"/app/inbox/{chat_id}", "chat_not_found"),
        (f"/app/inbox/{chat_id}/messages", "chat_not_found"),
    ):
        page = await panel.get(path)
        assert page.status_code == 404, path
        assert EN[f"error.{code}"] in page.text, path
        assert "private" not in page.text
    for path, code in (
        (f"/app/connections/{conn['id']}/stop", "connection_not_found"),
        (f"/app/connections/{conn['id']}/delete", "connection_not_found"),
        (f"/app/inbox/{chat_id}/status", "chat_not_found"),
        (f"/app/send/{chat_id}", "chat_not_found"),
    ):
        refused = await panel.post(path, {"status": "closed", "text": "hi"})
        assert refused.status_code == 404, path
        assert EN[f"error.{code}"] in refused.text, path
    assert (await http.get(f"{API}/connections/{conn['id']}", headers=theirs)).json()[
        "state"
    ] == "ready"


async def _first_chat(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    from tests.conftest import eventually

    found: list[Any] = []

    async def has_chat() -> bool:
        found[:] = (await http.get(f"{API}/chats", headers=headers)).json()["items"]
        return bool(found)

    await eventually(has_chat, what="a chat")
    return str(found[0]["id"])


async def test_customer_html_renders_as_text_in_the_inbox(
    server: Server, admin: dict[str, str], panel: Panel, clock: ManualClock
) -> None:
    http = server.http
    conn = await create_connection(http, admin, "Loja")
    await link(http, admin, conn["id"], clock)
    await http.post(
        f"{API}/simulator/connections/{conn['id']}/incoming",
        headers=admin,
        json={"from": "5511977776666", "text": HOSTILE, "push_name": "<i>Eve</i>"},
    )
    chat_id = await _first_chat(http, admin)
    listing = await panel.get("/app/inbox")
    assert 'data-testid="unread"' in listing.text
    page = await panel.get(f"/app/inbox/{chat_id}")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<i>Eve</i>" not in page.text
    assert untranslated(page.text) == []


@pytest.mark.parametrize("language", ["pt-BR", "en"])
async def test_every_page_is_translated(
    server: Server, admin: dict[str, str], panel: Panel, clock: ManualClock, language: str
) -> None:
    http = server.http
    switched = await panel.post("/app/language", {"language": language})
    assert switched.status_code == 303
    conn = await create_connection(http, admin, "Loja")
    await link(http, admin, conn["id"], clock)
    await http.post(
        f"{API}/simulator/connections/{conn['id']}/incoming",
        headers=admin,
        json={"from": "5511977776666", "text": "oi"},
    )
    waiting = await create_connection(http, admin, "Nova")
    await http.post(f"{API}/connections/{waiting['id']}/start", headers=admin)
    chat_id = await _first_chat(http, admin)
    pages = [
        "/app",
        "/app?state=ready",
        f"/app/connections/{conn['id']}",
        f"/app/connections/{waiting['id']}/qr",
        "/app/inbox",
        f"/app/inbox/{chat_id}",
        "/app/inbox?tab=mine",
        "/app/settings",
        "/app/settings/users",
        "/app/settings/api-keys",
        "/app/settings/organizations",
        "/app/connections/not-a-connection",
    ]
    expected_lang = f'<html lang="{language}">'
    for path in pages:
        page = await panel.get(path)
        missing = path.endswith("/not-a-connection")
        assert page.status_code == (404 if missing else 200), (path, page.status_code)
        assert untranslated(page.text) == [], path
        if missing:
            said = i18n.catalog(language)["error.connection_not_found"]
            assert said in page.text, path
        if not path.endswith("/qr"):  # the QR modal is a part of a page, without <html>
            assert expected_lang in page.text, path


async def test_language_follows_the_browser_then_the_user(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    pt = await client.get("/app/login", headers={"accept-language": "pt-BR,pt;q=0.9"})
    assert '<html lang="pt-BR">' in pt.text
    assert "Entrar" in pt.text
    en = await client.get("/app/login", headers={"accept-language": "de,en;q=0.5"})
    assert '<html lang="en">' in en.text
    p = Panel(client)
    await p.login()
    await p.post("/app/language", {"language": "pt-BR"})
    me = await client.get(f"{API}/me", headers=admin)
    assert me.json()["user"]["language"] == "pt-BR"
    again = await p.get("/app", headers={"accept-language": "en"})
    assert '<html lang="pt-BR">' in again.text


async def test_first_run_setup(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    settings = settings_factory(admin_email=None, admin_password=None)
    async with running_server(settings, clock) as srv:
        p = Panel(srv.http)
        first = await srv.http.get("/app")
        assert first.headers["location"] == "/app/login"
        login_page = await srv.http.get("/app/login")
        assert login_page.headers["location"] == "/app/setup"
        await p.get("/app/setup")
        weak = await srv.http.post(
            "/app/setup",
            data={
                "organization": "Barbearia",
                "email": "dono@x.com",
                "password": "short",
                "csrf_token": p.csrf,
            },
        )
        assert weak.status_code == 422
        assert EN["error.weak_password"] in weak.text
        done = await srv.http.post(
            "/app/setup",
            data={
                "organization": "Barbearia",
                "email": "dono@x.com",
                "password": "senha-segura",
                "csrf_token": p.csrf,
            },
        )
        assert done.status_code == 303
        dashboard = await p.get("/app")
        assert dashboard.status_code == 200
        assert "Barbearia" in dashboard.text  # the organization, in the top bar
        settings_page = await p.get("/app/settings/organizations")
        assert settings_page.status_code == 200  # the first user is a superadmin
        assert (await srv.http.get("/app/setup")).headers["location"] == "/app/login"


async def test_card_actions_and_qr_modal(panel: Panel, clock: ManualClock) -> None:
    created = await panel.post("/app/connections", {"name": "Loja", "connect": "true"})
    assert created.status_code == 200
    page = await panel.get("/app")
    cid = re.search(r'id="conn-([0-9a-f-]+)"', page.text)
    assert cid is not None
    modal = await panel.get(f"/app/connections/{cid.group(1)}/qr")
    assert 'data-testid="qr-image"' in modal.text
    assert (
        'data-testid="countdown">1:00' in modal.text or 'data-testid="countdown">0:59' in modal.text
    )
    assert "simulate-scan" in modal.text
    pairing = await panel.post(
        f"/app/connections/{cid.group(1)}/pairing-code", {"phone": "+55 11 98888-7777"}
    )
    assert 'data-testid="pairing-code"' in pairing.text
    bad = await panel.post(f"/app/connections/{cid.group(1)}/pairing-code", {"phone": "12"})
    assert bad.status_code == 422
    assert EN["error.invalid_phone"] in bad.text
    stopped = await panel.post(f"/app/connections/{cid.group(1)}/stop")
    assert 'data-state="disconnected"' in stopped.text
    deleted = await panel.post(f"/app/connections/{cid.group(1)}/delete")
    assert deleted.status_code == 200
    assert "zg-toast" in deleted.headers["hx-trigger"]
