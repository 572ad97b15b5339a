"""Settings → Exports without a browser (SQLite and PostgreSQL): create, list, edit,
enable, delete, errors beside their field with the form kept, the delivery log with
redelivery, and the broker URL's credentials on no page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API, create_connection
from tests.integration.exports.brokers import NATS_URL, free_port, nats_consumer
from tests.integration.exports.test_brokers import received
from tests.integration.web.panel import Panel, untranslated
from zapgate.config import Settings

EXPORTS = "/app/settings/exports"
PASSWORD = "Pa55-panel-9c2e71"
URL = f"nats://zapgate:{PASSWORD}@127.0.0.1:4222"
SHOWN = "nats://zapgate:***@127.0.0.1:4222"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


async def _exports(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = await http.get(f"{API}/exports", headers=headers)
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _submit(panel: Panel, path: str, **fields: Any) -> httpx.Response:
    """A plain form post, as a browser without scripts sends it."""
    await panel.get(EXPORTS)
    return await panel.http.post(path, data={"csrf_token": panel.csrf, **fields})


async def _secret_of(server: Server, export_id: str) -> str:
    async with server.runtime.db.read() as s:
        found = await s.execute(
            text("SELECT secret FROM webhooks WHERE id = :id"), {"id": export_id}
        )
        return str(found.scalar_one())


async def test_create_edit_enable_and_delete_never_showing_the_password(
    server: Server, panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    conn = await create_connection(client, admin, "Loja")
    created = await _submit(
        panel,
        EXPORTS,
        kind="nats",
        url=URL,
        stream="ZG_PANEL",
        exchange="ignored-for-nats",
        subject_prefix="acme.events",
        events=["message.received", "chat.updated"],
        connection_id=conn["id"],
        description="CRM <b>feed</b>",
        enabled="true",
    )
    assert created.status_code == 303, created.text
    assert created.headers["location"] == EXPORTS
    (export,) = await _exports(client, admin)
    assert export["kind"] == "nats"
    assert export["url"] == SHOWN
    assert (export["stream"], export["exchange"]) == ("ZG_PANEL", None)
    assert export["subject_prefix"] == "acme.events"
    assert export["events"] == ["message.received", "chat.updated"]
    assert export["connection_id"] == conn["id"]
    assert export["enabled"] is True
    detail_path = f"{EXPORTS}/{export['id']}"
    for path in (EXPORTS, f"{EXPORTS}/list", detail_path):
        page = await panel.get(path)
        assert page.status_code == 200, path
        assert PASSWORD not in page.text, path
        assert SHOWN in page.text, path
        assert untranslated(page.text) == [], path
    listing = await panel.get(EXPORTS)
    assert "CRM &lt;b&gt;feed&lt;/b&gt;" in listing.text
    assert "Loja" in listing.text
    assert "NATS JetStream" in listing.text

    # A blank URL keeps the stored one, credentials and all.
    sealed = await _secret_of(server, export["id"])
    edited = await panel.post(
        detail_path,
        {"url": "", "stream": "ZG_OTHER", "events": ["*"], "enabled": "true"},
    )
    assert edited.status_code == 200, edited.text
    assert edited.headers["hx-location"] == detail_path
    (after,) = await _exports(client, admin)
    assert (after["url"], after["stream"], after["events"]) == (SHOWN, "ZG_OTHER", ["*"])
    assert after["subject_prefix"] == "zapgate"  # blank is the default
    assert after["connection_id"] is None
    assert await _secret_of(server, export["id"]) == sealed
    # A new URL is sealed anew; an unticked box disables.
    await panel.post(detail_path, {"url": "nats://other:s3cret-2@127.0.0.1:4222", "stream": "S"})
    (changed,) = await _exports(client, admin)
    assert changed["url"] == "nats://other:***@127.0.0.1:4222"
    assert changed["enabled"] is False
    assert await _secret_of(server, export["id"]) != sealed

    await panel.post(f"{detail_path}/enabled", {"enabled": "true"})
    assert (await _exports(client, admin))[0]["enabled"] is True
    deleted = await panel.post(f"{detail_path}/delete")
    assert deleted.headers["hx-location"] == EXPORTS
    assert await _exports(client, admin) == []
    assert "No exports yet." in (await panel.get(EXPORTS)).text


def _value(html: str, name: str) -> str | None:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
    return found.group(1) if found else None


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"kind": "nats", "stream": "a.b"}, "stream", "Stream names have up to 255"),
        ({"kind": "rabbitmq", "exchange": ""}, "exchange", "needs the exchange"),
        (
            {"kind": "nats", "stream": "S", "subject_prefix": "a.>"},
            "subject_prefix",
            "separated by dots",
        ),
        (
            {"kind": "rabbitmq", "exchange": "x", "url": "http://127.0.0.1/"},
            "url",
            "RabbitMQ takes amqp://",
        ),
        (
            {"kind": "rabbitmq", "exchange": "x", "url": f"amqp://u:{'p' * 130}@127.0.0.1/"},
            "url",
            "at most 119 characters",
        ),
        (
            {"kind": "nats", "stream": "S", "connection_id": "nope"},
            "connection_id",
            "does not exist",
        ),
    ],
)
async def test_errors_are_shown_beside_their_field_with_the_form_kept(
    panel: Panel,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    fields: dict[str, str],
    field: str,
    words: str,
) -> None:
    sent = {
        "url": URL,
        "description": "kept <i>as typed</i>",
        "events": ["message.status"],
        **fields,
    }
    answer = await _submit(panel, EXPORTS, **sent)
    assert answer.status_code == 422, answer.text
    html = answer.text
    error = re.search(rf'<p class="field-error" id="ex-{field}-error"[^>]*>([^<]*)</p>', html)
    assert error is not None, html
    assert words in error.group(1)
    assert 'data-testid="form-errors"' in html
    assert 'aria-invalid="true"' in html
    assert _value(html, "description") == "kept &lt;i&gt;as typed&lt;/i&gt;"
    for name in ("stream", "exchange", "subject_prefix"):
        if fields.get(name):
            assert _value(html, name) == fields[name].replace(">", "&gt;")
    assert re.search(r'value="message.status" checked', html)
    assert re.search(rf'<option value="{fields["kind"]}" selected>', html)
    # A URL with credentials is not sent back: it is asked for again.
    url = sent["url"]
    assert PASSWORD not in html
    if "@" in url:
        assert _value(html, "url") == ""
        assert 'data-testid="url-withheld"' in html
    else:
        assert _value(html, "url") == url
    assert untranslated(html) == []
    assert await _exports(client, admin) == []


async def test_an_edit_refused_keeps_the_form_and_the_export(
    panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _submit(panel, EXPORTS, kind="nats", url=URL, stream="S", enabled="true")
    (export,) = await _exports(client, admin)
    answer = await panel.post(
        f"{EXPORTS}/{export['id']}",
        {"url": "", "stream": "S", "subject_prefix": "bad prefix", "description": "new words"},
    )
    assert answer.status_code == 422
    assert 'id="ee-subject_prefix-error"' in answer.text
    assert _value(answer.text, "subject_prefix") == "bad prefix"
    assert _value(answer.text, "description") == "new words"
    assert f'data-testid="current-url">{SHOWN}<' in answer.text
    assert (await _exports(client, admin)) == [export]


async def test_delivery_log_shows_the_brokers_answer_and_redelivers(
    server: Server, panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async with nats_consumer() as stream:
        await _submit(
            panel,
            EXPORTS,
            kind="nats",
            url=NATS_URL,
            stream=stream.stream,
            subject_prefix=stream.prefix,
            events=["connection.created"],
            enabled="true",
        )
        (export,) = await _exports(client, admin)
        await create_connection(client, admin, "Shop")
        await received(stream, 1)
        detail = f"{EXPORTS}/{export['id']}"

        async def delivered() -> bool:
            page = await panel.get(detail)
            return 'data-testid="delivery-status">Delivered<' in page.text

        await eventually(delivered, what="a delivered row in the log")
        page = await panel.get(detail)
        found = re.search(r'id="delivery-([0-9a-f-]+)"', page.text)
        assert found is not None
        again = await panel.post(f"{detail}/deliveries/{found.group(1)}/redeliver")
        assert again.status_code == 200
        assert again.text.lstrip().startswith(f'<tr id="delivery-{found.group(1)}"')
        assert "zg-toast" in again.headers["hx-trigger"]
        await received(stream, 1)  # the same event id: JetStream drops the copy

    # A broker that refuses the connection: its words in the log, the password nowhere.
    url = f"nats://zapgate:{PASSWORD}@127.0.0.1:{free_port()}"
    await _submit(panel, EXPORTS, kind="nats", url=url, stream="S", events=["*"], enabled="true")
    refused = next(e for e in await _exports(client, admin) if e["id"] != export["id"])
    await create_connection(client, admin, "Other")

    async def told() -> bool:
        page = await panel.get(f"{EXPORTS}/{refused['id']}")
        return 'data-testid="delivery-error"' in page.text

    await eventually(told, what="the broker's refusal in the panel's log")
    page = await panel.get(f"{EXPORTS}/{refused['id']}")
    assert PASSWORD not in page.text
    assert untranslated(page.text) == []


async def test_exports_are_for_admins(server: Server, panel: Panel, admin: dict[str, str]) -> None:
    created = await server.http.post(
        f"{API}/users",
        headers=admin,
        json={"email": "agent@example.com", "password": "agent-password-1", "role": "agent"},
    )
    assert created.status_code == 201, created.text
    agent = Panel(server.http)
    server.http.cookies.clear()
    await agent.login("agent@example.com", "agent-password-1")
    settings = await agent.get("/app/settings")
    assert EXPORTS not in settings.text
    refused = await agent.get(EXPORTS)
    assert refused.status_code == 403
