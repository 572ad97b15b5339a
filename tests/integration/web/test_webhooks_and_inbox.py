"""Settings → Webhooks, contact custom fields and older messages, without a browser."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Server, eventually, login
from tests.integration.api.helpers import API, create_connection, link
from tests.integration.servers import Receiver, receiving
from tests.integration.web.panel import Panel, untranslated
from zapgate.config import Settings
from zapgate.store.tables.webhooks import WebhookRow
from zapgate.util.clock import ManualClock
from zapgate.web import i18n

HOOKS = "/app/settings/webhooks"
SECRET = "panel-secret-0123456789"
EN = i18n.catalog("en")


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


async def _hooks(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await http.get(f"{API}/webhooks", headers=headers)).json()[
        "items"
    ]
    return items


async def _create(panel: Panel, url: str, **fields: Any) -> httpx.Response:
    await panel.get(HOOKS)
    data = {"url": url, "csrf_token": panel.csrf, **fields}
    # A plain form post, as the browser sends it: the answer is the page with the secret.
    return await panel.http.post(HOOKS, data=data)


async def test_create_shows_the_secret_once(
    panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await _create(
        panel,
        "http://127.0.0.1:9/hook",
        events=["message.received", "chat.updated"],
        secret=SECRET,
        description="CRM <b>sync</b>",
    )
    assert created.status_code == 200, created.text
    assert 'data-testid="new-secret"' in created.text
    assert SECRET in created.text
    assert "&lt;b&gt;sync&lt;/b&gt;" in created.text
    (hook,) = await _hooks(client, admin)
    assert hook["events"] == ["message.received", "chat.updated"]
    for path in (HOOKS, f"{HOOKS}/{hook['id']}", f"{HOOKS}/list"):
        page = await panel.get(path)
        assert page.status_code == 200, path
        assert SECRET not in page.text, path
        assert "new-secret" not in page.text, path
        assert untranslated(page.text) == [], path
    # A generated secret is shown once too; "all events" wins over single types.
    generated = await _create(panel, "http://127.0.0.1:9/other", events=["*", "chat.updated"])
    shown = re.search(r'data-testid="new-secret">(whsec_[^<]+)<', generated.text)
    assert shown is not None
    listing = await panel.get(HOOKS)
    assert shown.group(1) not in listing.text
    assert [h["events"] for h in await _hooks(client, admin)] == [
        ["message.received", "chat.updated"],
        ["*"],
    ]


async def test_edit_disable_enable_delete_and_disabled_reason(
    server: Server, panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _create(panel, "http://127.0.0.1:9/hook")
    (hook,) = await _hooks(client, admin)
    conn = await create_connection(client, admin, "Loja")
    edited = await panel.post(
        f"{HOOKS}/{hook['id']}",
        {
            "url": "http://127.0.0.1:9/edited",
            "events": ["contact.updated"],
            "connection_id": conn["id"],
        },
    )
    assert edited.status_code == 200
    assert edited.headers["hx-location"] == f"{HOOKS}/{hook['id']}"
    (after,) = await _hooks(client, admin)
    assert after["url"] == "http://127.0.0.1:9/edited"
    assert after["events"] == ["contact.updated"]
    assert after["connection_id"] == conn["id"]
    bad = await panel.post(f"{HOOKS}/{hook['id']}", {"url": "ftp://nope"})
    assert bad.status_code == 422
    assert "That URL is not valid" in bad.text

    await panel.post(f"{HOOKS}/{hook['id']}/enabled", {"enabled": "false"})
    assert (await _hooks(client, admin))[0]["enabled"] is False
    async with server.runtime.db.write() as s:
        row = await s.get(WebhookRow, hook["id"])
        assert row is not None
        row.disabled_reason = "no success for 72 hours <i>x</i>"
        row.failure_streak = 21
    listing = await panel.get(HOOKS)
    assert 'data-testid="disabled-reason"' in listing.text
    assert "no success for 72 hours &lt;i&gt;x&lt;/i&gt;" in listing.text
    assert 'data-testid="failure-streak">21<' in listing.text
    assert "Loja" in listing.text  # the connection filter, by name
    await panel.post(f"{HOOKS}/{hook['id']}/enabled", {"enabled": "true"})
    (enabled,) = await _hooks(client, admin)
    assert enabled["enabled"] is True
    assert "disabled-reason" not in (await panel.get(HOOKS)).text

    deleted = await panel.post(f"{HOOKS}/{hook['id']}/delete")
    assert deleted.headers["hx-location"] == HOOKS
    assert await _hooks(client, admin) == []


async def test_ordered_delivery_is_a_checkbox_in_both_forms(
    panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _create(panel, "http://127.0.0.1:9/hook", ordered="true")
    (hook,) = await _hooks(client, admin)
    assert hook["ordered"] is True
    assert 'data-testid="order">Event order, one at a time<' in (await panel.get(HOOKS)).text
    detail = await panel.get(f"{HOOKS}/{hook['id']}")
    box = re.search(r'<input type="checkbox" name="ordered"[^>]*>', detail.text)
    assert box is not None
    assert " checked>" in box.group(0)
    # An unticked checkbox is not sent: saving the form turns ordering off.
    await panel.post(f"{HOOKS}/{hook['id']}", {"url": hook["url"]})
    (after,) = await _hooks(client, admin)
    assert after["ordered"] is False
    assert 'data-testid="order">In parallel (any order)<' in (await panel.get(HOOKS)).text


async def test_csrf_is_refused_without_a_token(
    panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    plain = await panel.http.post(HOOKS, data={"url": "http://127.0.0.1:9/hook"})
    assert plain.status_code == 403
    assert EN["error.csrf"] in plain.text
    forged = await panel.http.post(
        HOOKS, data={"url": "http://127.0.0.1:9/hook", "csrf_token": "0" * 64}
    )
    assert forged.status_code == 403
    assert EN["error.csrf"] in forged.text
    assert await _hooks(client, admin) == []
    await _create(panel, "http://127.0.0.1:9/hook")
    (hook,) = await _hooks(client, admin)
    for path in (f"{HOOKS}/{hook['id']}/delete", f"{HOOKS}/{hook['id']}/enabled"):
        refused = await panel.http.post(path, data={"enabled": "false"})
        assert refused.status_code == 403, path
        assert EN["error.csrf"] in refused.text, path
    assert (await _hooks(client, admin))[0]["enabled"] is True


async def test_another_organizations_webhook_is_404(
    panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    org = (await client.post(f"{API}/organizations", headers=admin, json={"name": "B"})).json()
    response = await client.post(
        f"{API}/organizations/{org['id']}/users",
        headers=admin,
        json={"email": "b@example.com", "password": "b-password-1", "role": "owner"},
    )
    assert response.status_code == 201, response.text
    theirs = await login(client, "b@example.com", "b-password-1")
    made = await client.post(
        f"{API}/webhooks", headers=theirs, json={"url": "http://127.0.0.1:9/their-hook"}
    )
    assert made.status_code == 201, made.text
    hook_id = made.json()["id"]
    listing = await panel.get(HOOKS)
    assert "their-hook" not in listing.text
    page = await panel.get(f"{HOOKS}/{hook_id}")
    assert page.status_code == 404
    assert EN["error.webhook_not_found"] in page.text
    assert "their-hook" not in page.text
    for path, data in (
        (f"{HOOKS}/{hook_id}", {"url": "http://127.0.0.1:9/mine"}),
        (f"{HOOKS}/{hook_id}/enabled", {"enabled": "false"}),
        (f"{HOOKS}/{hook_id}/delete", {}),
        (f"{HOOKS}/{hook_id}/deliveries/{hook_id}/redeliver", {}),
    ):
        refused = await panel.post(path, data)
        assert refused.status_code == 404, path
        assert EN["error.webhook_not_found"] in refused.text, path
    (still,) = await _hooks(client, theirs)
    assert still["url"] == "http://127.0.0.1:9/their-hook"
    assert still["enabled"] is True


async def test_agents_and_managers_have_no_webhooks_tab(
    panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for role in ("agent", "manager"):
        email = f"{role}@example.com"
        made = await client.post(
            f"{API}/users",
            headers=admin,
            json={"email": email, "password": "role-password-1", "role": role},
        )
        assert made.status_code == 201, made.text
        other = Panel(httpx.AsyncClient(transport=client._transport, base_url="http://test"))
        async with other.http:
            await other.login(email, "role-password-1")
            settings_page = await other.get("/app/settings")
            assert 'href="/app/settings/webhooks"' not in settings_page.text
            page = await other.get(HOOKS)
            assert page.status_code == 403
            assert EN["error.forbidden"] in page.text
            refused = await other.post(HOOKS, {"url": "http://127.0.0.1:9/x"})
            assert refused.status_code == 403
            assert EN["error.forbidden"] in refused.text


async def test_delivery_log_and_redeliver(
    panel: Panel, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    async with receiving(Receiver()) as receiver:
        await _create(panel, receiver.url, events=["connection.created"])
        (hook,) = await _hooks(client, admin)
        await create_connection(client, admin, "Loja")

        async def delivered() -> bool:
            page = await panel.get(f"{HOOKS}/{hook['id']}")
            return 'data-testid="delivery-status">Delivered<' in page.text

        await eventually(delivered, what="the delivery in the log")
        page = await panel.get(f"{HOOKS}/{hook['id']}")
        assert "connection.created" in page.text
        assert "thanks" in page.text  # the response excerpt
        assert untranslated(page.text) == []
        found = re.search(r'id="delivery-([0-9a-f-]+)"', page.text)
        assert found is not None
        delivery_id = found.group(1)
        again = await panel.post(f"{HOOKS}/{hook['id']}/deliveries/{delivery_id}/redeliver")
        assert again.status_code == 200, again.text
        assert again.text.lstrip().startswith(f'<tr id="delivery-{delivery_id}"')
        assert "zg-toast" in again.headers["hx-trigger"]

        async def twice() -> bool:
            return len(receiver.requests) == 2

        await eventually(twice, what="the redelivered request")
        assert receiver.requests[1].headers["x-zapgate-delivery"] == delivery_id
        # A disabled webhook cannot redeliver: a clear 409, not a 500.
        await panel.post(f"{HOOKS}/{hook['id']}/enabled", {"enabled": "false"})
        refused = await panel.post(f"{HOOKS}/{hook['id']}/deliveries/{delivery_id}/redeliver")
        assert refused.status_code == 409
        assert "Enable it first" in refused.text


# ---------------------------------------------------------------- inbox


async def _chat_with(
    server: Server, admin: dict[str, str], clock: ManualClock, texts: list[str]
) -> tuple[str, str]:
    http = server.http
    conn = await create_connection(http, admin, "Loja")
    await link(http, admin, conn["id"], clock)
    for text in texts:
        sent = await http.post(
            f"{API}/simulator/connections/{conn['id']}/incoming",
            headers=admin,
            json={"from": "5511977776666", "text": text},
        )
        assert sent.status_code == 200, sent.text
    found: list[dict[str, Any]] = []

    async def stored() -> bool:
        found[:] = (await http.get(f"{API}/chats", headers=admin)).json()["items"]
        if not found:
            return False
        listed = await http.get(
            f"{API}/chats/{found[0]['id']}/messages", headers=admin, params={"limit": 200}
        )
        return len(listed.json()["items"]) == len(texts)

    await eventually(stored, what="the messages stored")
    return str(found[0]["id"]), str(found[0]["contact_id"])


async def test_contact_custom_fields_are_saved(
    server: Server, admin: dict[str, str], panel: Panel, clock: ManualClock
) -> None:
    http = server.http
    chat_id, contact_id = await _chat_with(server, admin, clock, ["oi"])
    # A number the API stored keeps its type while its text is left alone.
    await http.patch(
        f"{API}/contacts/{contact_id}", headers=admin, json={"custom_fields": {"visits": 3}}
    )
    page = await panel.get(f"/app/inbox/{chat_id}")
    assert 'data-testid="custom-field"' in page.text
    saved = await panel.post(
        f"/app/inbox/contacts/{contact_id}",
        {
            "name": "Ana",
            "custom": "true",
            "cf_key": ["visits", "plan", "", "<b>note</b>"],
            "cf_value": ["3", "gold", "", "<i>vip</i>"],
        },
    )
    assert saved.status_code == 200, saved.text
    assert "&lt;i&gt;vip&lt;/i&gt;" in saved.text
    assert "<i>vip</i>" not in saved.text
    contact = (await http.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
    assert contact["name"] == "Ana"
    assert contact["custom_fields"] == {"visits": 3, "plan": "gold", "<b>note</b>": "<i>vip</i>"}
    removed = await panel.post(
        f"/app/inbox/contacts/{contact_id}",
        {"name": "Ana", "custom": "true", "cf_key": ["plan"], "cf_value": ["silver"]},
    )
    assert removed.status_code == 200
    contact = (await http.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
    assert contact["custom_fields"] == {"plan": "silver"}
    nameless = await panel.post(
        f"/app/inbox/contacts/{contact_id}",
        {"custom": "true", "cf_key": [""], "cf_value": ["orphan"]},
    )
    assert nameless.status_code == 422
    assert EN["error.invalid_custom_fields"] in nameless.text
    contact = (await http.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
    assert contact["custom_fields"] == {"plan": "silver"}


async def test_older_messages_load_before_the_oldest_shown(
    server: Server, admin: dict[str, str], panel: Panel, clock: ManualClock
) -> None:
    texts = [f"message number {i:03d}" for i in range(85)]
    chat_id, _ = await _chat_with(server, admin, clock, texts)
    page = await panel.get(f"/app/inbox/{chat_id}")
    assert untranslated(page.text) == []
    assert "message number 084" in page.text
    assert "message number 005" in page.text
    assert "message number 004" not in page.text
    button = re.search(r'hx-get="(/app/inbox/[^"]+/messages/older\?before=[^"]+)"', page.text)
    assert button is not None
    older = await panel.get(button.group(1).replace("&amp;", "&"))
    assert older.status_code == 200
    assert [f"message number {i:03d}" in older.text for i in range(6)] == [True] * 5 + [False]
    assert "load-older" not in older.text  # nothing older remains
    oldest = re.search(r'id="messages-from" name="from" value="([^"]+)" hx-swap-oob', older.text)
    assert oldest is not None
    # A live refresh from the oldest loaded message keeps every loaded one.
    refreshed = await panel.get(f"/app/inbox/{chat_id}/messages", params={"from": oldest.group(1)})
    assert all(text in refreshed.text for text in texts)
    assert "load-older" not in refreshed.text
    bad = await panel.get(f"/app/inbox/{chat_id}/messages/older", params={"before": "nope"})
    assert bad.status_code == 422
    assert EN["error.invalid_cursor"] in bad.text
