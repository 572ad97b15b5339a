"""A panel page that fails answers with the panel's own page (a toast for htmx requests),
in the visitor's language: never the API's JSON error body."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.integration.api.helpers import API
from tests.integration.web.panel import Panel, untranslated
from zapgate.web import i18n

EN = i18n.catalog("en")


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


def assert_error_page(page: httpx.Response, status: int, key: str) -> None:
    assert page.status_code == status, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f"<title>{status} · zapgate</title>" in page.text
    assert EN[key] in page.text
    assert '"error":' not in page.text
    assert untranslated(page.text) == []
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_an_unexpected_error_on_a_page_is_the_panels_500_page(
    server: Server, panel: Panel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug with a secret detail")

    monkeypatch.setattr(server.runtime.messaging.inbox, "chats", broken)
    with caplog.at_level(logging.ERROR, logger="zapgate.web.routing"):
        page = await panel.get("/app/inbox")
    assert_error_page(page, 500, "error.internal_error")
    assert "secret detail" not in page.text
    assert any(r.exc_info and "secret detail" in str(r.exc_info[1]) for r in caplog.records)

    # A part of a page loaded by htmx shows the same message as a toast.
    part = await panel.get("/app/inbox/list", headers={"hx-request": "true"})
    assert part.status_code == 500
    assert part.headers["hx-retarget"] == "#toasts"
    assert EN["error.internal_error"] in part.text
    assert "<html" not in part.text


async def test_unknown_panel_paths_and_methods_are_panel_pages(
    panel: Panel, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for path in ("/app/no-such-page", "/app/settings/nothing/here"):
        assert_error_page(await panel.get(path), 404, "error.not_found")
    # Known errors raised by a page keep their own message.
    missing_chat = await panel.get("/app/inbox/019a0000-0000-7000-8000-000000000000")
    assert_error_page(missing_chat, 404, "error.chat_not_found")

    wrong_method = await client.delete("/app/inbox")
    assert_error_page(wrong_method, 405, "error.method_not_allowed")
    assert wrong_method.headers["allow"] == "GET"

    # A body the framework cannot parse (before any panel code runs) is a page too.
    garbled = await client.post(
        "/app/send/019a0000-0000-7000-8000-000000000000",
        content=b"text=hi",
        headers={"content-type": "multipart/form-data", "x-csrf-token": panel.csrf},
    )
    assert_error_page(garbled, 400, "error.bad_request")

    # The API keeps its JSON errors.
    api = await client.get(f"{API}/no-such-thing", headers=admin)
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    static = await client.get("/static/no-such-file.css")
    assert static.status_code == 404
    assert static.headers["content-type"].startswith("application/json")
    assert static.json()["error"]["code"] == "not_found"
