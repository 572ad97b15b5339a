"""The panel on a 375-px phone: the header on one line (the tools behind ☰), the
totals folded but one tap away, the chat's status and assignment above the composer,
and no page wider than the screen, in both languages."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, FloatRect, Locator, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, linked_connection, sign_in

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 740}


def box_of(locator: Locator) -> FloatRect:
    """Its box once laid out: a live refresh may swap the element as the page settles."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        expect(locator).to_be_visible()
        box = locator.bounding_box()
        if box is not None:
            return box
        assert time.monotonic() < deadline, f"{locator} never had a box"


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_phone_layout_is_compact_and_never_scrolls_sideways(
    browser: Browser, live: LiveServer, language: str
) -> None:
    with live.api() as api:
        cid = linked_connection(api, "Recepção Centro", "5511990009999")
        api.post(
            f"/simulator/connections/{cid}/incoming",
            json={
                "from": "5511981234567",
                "text": "Oi! *Tem horário* amanhã?",
                "push_name": "Maria",
            },
        )
        chat_id = ""
        deadline = time.monotonic() + 15  # a real server: polled with a deadline
        while not chat_id and time.monotonic() < deadline:
            chats = api.get("/chats").json()["items"]
            chat_id = chats[0]["id"] if chats else ""
        assert chat_id
        hook = api.post("/webhooks", json={"url": "https://example.com/hook"}).json()
    ctx = browser.new_context(locale=language, viewport=PHONE, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        sign_in(page, live)
        header = page.locator("header.topbar")
        box = header.bounding_box()
        assert box is not None
        assert box["height"] <= 56, box  # one line
        expect(page.locator("#topbar-tools")).to_be_hidden()
        page.get_by_test_id("tools-toggle").click()
        expect(page.get_by_test_id("theme-toggle")).to_be_visible()
        page.get_by_test_id("tools-toggle").click()

        totals = page.get_by_test_id("totals-box")
        expect(totals.locator(".totals")).to_be_hidden()
        totals.locator("summary").click()
        expect(totals.locator(".totals")).to_be_visible()

        page.goto(live.url + f"/app/inbox/{chat_id}")
        status = page.get_by_test_id("chat-status")
        composer = page.locator("#composer-text")
        status_box, composer_box = box_of(status), box_of(composer)
        assert status_box["y"] + status_box["height"] <= composer_box["y"]
        assert status_box["y"] < PHONE["height"]  # in the first screen
        expect(page.locator("#assignee")).to_be_visible()

        for path in (
            "/app",
            "/app/inbox",
            f"/app/inbox/{chat_id}",
            f"/app/connections/{cid}",
            "/app/settings",
            "/app/settings/webhooks",
            f"/app/settings/webhooks/{hook['id']}",
        ):
            page.goto(live.url + path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (path, overflow)
            name = path.strip("/").replace("/", "-")[:40] or "app"
            page.screenshot(path=f"/tmp/panel-shots/phone-{name}-{language}.png", full_page=True)
    finally:
        ctx.close()
