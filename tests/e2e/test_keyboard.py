"""A keyboard-only pass: link a number and answer a chat without a mouse. Dialogs focus
their first field and give the focus back on close; a chat opens with the composer
focused and a skip link reaches it; a chat action keeps the focus in place."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, sign_in

pytestmark = pytest.mark.browser
WORDS = {
    "pt-BR": {
        "new": "+ Nova conexão",
        "scan": "Simular leitura",
        "skip": "Pular para a mensagem",
        "close_chat": "Encerrar conversa",
    },
    "en": {
        "new": "+ New connection",
        "scan": "Simulate scan",
        "skip": "Skip to the message box",
        "close_chat": "Close chat",
    },
}


def _focused(page: Page) -> str:
    return str(
        page.evaluate(
            "(document.activeElement.id || '') + '|' + document.activeElement.textContent.trim()"
        )
    )


def _tab_to(page: Page, text: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if text in _focused(page):
            return
    raise AssertionError(f"Tab never reached {text!r}; at {_focused(page)!r}")


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_link_and_answer_with_the_keyboard_only(
    browser: Browser, live: LiveServer, language: str
) -> None:
    words = WORDS[language]
    ctx = browser.new_context(locale=language, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        sign_in(page, live)
        _tab_to(page, words["new"])
        page.keyboard.press("Enter")
        expect(page.locator("#new-name")).to_be_focused()  # the name, not ✕
        page.keyboard.type("Balcão")
        page.keyboard.press("Enter")
        modal = page.locator("#modal")
        expect(modal.get_by_test_id("qr-image")).to_be_visible()
        focused_in_modal = page.evaluate(
            "document.getElementById('modal').contains(document.activeElement)"
        )
        assert focused_in_modal
        _tab_to(page, words["scan"])
        page.keyboard.press("Enter")
        expect(modal).to_be_hidden(timeout=30_000)  # linked: the modal closes by itself
        expect(page.get_by_role("button", name=words["new"])).to_be_focused()

        with live.api() as api:
            cid = api.get("/connections").json()["items"][0]["id"]
            sent = api.post(
                f"/simulator/connections/{cid}/incoming",
                json={"from": "5511981234567", "text": "Oi", "push_name": "Maria"},
            )
            assert sent.status_code == 200
        page.goto(live.url + "/app/inbox")
        link = page.locator("#chat-list a").first
        expect(link).to_contain_text("Maria")
        _tab_to(page, "Maria")
        page.keyboard.press("Enter")
        composer = page.locator("#composer-text")
        expect(composer).to_be_focused()  # opening a chat lands in the composer
        page.keyboard.type("Olá Maria!")
        page.keyboard.press("Enter")
        expect(page.locator(".bubble.out").last).to_contain_text("Olá Maria!")
        expect(composer).to_be_focused()

        # At the top of the page, right after "skip to content", the skip to the composer.
        page.locator("a.skip").first.focus()
        page.keyboard.press("Tab")
        expect(page.get_by_test_id("skip-composer")).to_be_focused()
        expect(page.get_by_test_id("skip-composer")).to_have_text(words["skip"])
        page.keyboard.press("Enter")
        expect(composer).to_be_focused()

        # A chat action swaps its panel; the focus stays in it, not on <body>.
        page.get_by_role("button", name=words["close_chat"]).focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("chat-status")).not_to_have_text("")
        expect(page.locator("#chat-controls :focus")).to_have_count(1)
    finally:
        ctx.close()


def test_creating_without_connecting_opens_no_empty_modal(
    browser: Browser, live: LiveServer
) -> None:
    ctx = browser.new_context(locale="en", viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        sign_in(page, live)
        page.get_by_role("button", name="+ New connection").click()
        expect(page.locator("#new-name")).to_be_focused()
        page.keyboard.type("Spare")
        page.locator("#new-connection input[name=connect]").uncheck()
        page.locator("#new-name").press("Enter")
        expect(page.locator("#toasts")).to_contain_text("Connection “Spare” created.")
        expect(page.locator("article.card").filter(has_text="Spare")).to_be_visible()
        assert page.evaluate("document.getElementById('modal').open") is False
        expect(page.get_by_role("button", name="+ New connection")).to_be_focused()
    finally:
        ctx.close()
