"""``/api/docs`` in a browser with every request beyond the loopback host blocked."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from tests.e2e.conftest import LiveServer, shot

pytestmark = pytest.mark.browser


def test_docs_render_the_operations_on_a_closed_network(page: Page, live: LiveServer) -> None:
    blocked: list[str] = []
    errors: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":  # a Content-Security-Policy refusal shows up here
            errors.append(message.text)

    page.route("**/*", only_loopback)
    page.on("console", console)
    page.goto(live.url + "/api/docs")
    send = page.locator(".opblock-post .opblock-summary-path", has_text="/api/v1/messages")
    expect(send.first).to_be_visible()
    assert page.locator(".opblock").count() > 50
    # An operation opens, with its parameters and responses.
    page.locator(".opblock-get .opblock-summary-path", has_text="/api/v1/connections").first.click()
    expect(page.locator(".opblock.is-open .responses-table").first).to_be_visible()
    shot(page, "api-docs-desktop")
    assert blocked == []
    assert errors == []
