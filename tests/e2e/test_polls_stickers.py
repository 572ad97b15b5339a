"""Polls and stickers in the conversation: a poll shows its question, its options with
their counts and bars, in both languages, and follows new votes live; a sticker we sent
(converted from a PNG) shows as a picture."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, linked_connection, shot, sign_in

pytestmark = pytest.mark.browser

CUSTOMER = "5511981238888"
OTHER = "5511981237777"
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _vote(
    api: httpx.Client, cid: str, poll_id: str, options: list[str], who: str = CUSTOMER
) -> None:
    voted = api.post(
        f"/simulator/connections/{cid}/incoming",
        json={"from": who, "type": "poll_vote", "poll_message_id": poll_id, "options": options},
    )
    assert voted.status_code == 200, voted.text


def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _conversation(api: httpx.Client, cid: str) -> tuple[str, str, str]:
    """The chat, our poll's id and WhatsApp id."""
    hello = api.post(
        f"/simulator/connections/{cid}/incoming", json={"from": CUSTOMER, "text": "Oi"}
    )
    assert hello.status_code == 200, hello.text
    poll = api.post(
        "/messages",
        json={
            "to": CUSTOMER,
            "type": "poll",
            "poll": {"question": "Qual tamanho?", "options": ["P", "M", "G"]},
        },
    )
    assert poll.status_code == 202, poll.text
    sticker = api.post(
        "/messages",
        json={
            "to": CUSTOMER,
            "type": "sticker",
            "media": {"base64": base64.b64encode(PIXEL).decode()},
        },
    )
    assert sticker.status_code == 202, sticker.text
    customer_poll = api.post(
        f"/simulator/connections/{cid}/incoming",
        json={
            "from": CUSTOMER,
            "type": "poll",
            "poll": {"question": "Abre domingo?", "options": ["Sim", "Não"], "multiple": True},
        },
    )
    assert customer_poll.status_code == 200, customer_poll.text
    poll_id, poll_wa = poll.json()["id"], poll.json()["wa_message_id"]
    _wait(lambda: api.get(f"/messages/{poll_id}").json()["status"] != "queued", "poll sent")
    _vote(api, cid, poll_wa, ["M"])
    _wait(lambda: api.get(f"/messages/{poll_id}").json()["poll"]["tally"]["M"] == 1, "vote")
    chats = api.get("/chats").json()["items"]
    return str(chats[0]["id"]), poll_id, poll_wa


def _option(page: Page, question: str, option: str) -> Any:
    poll = page.get_by_test_id("bubble-poll").filter(has_text=question)
    return poll.locator(f"[data-testid=poll-option][data-option='{option}']")


def test_polls_and_stickers_render_and_votes_arrive_live(
    page: Page, live: LiveServer, browser: Browser, dialogs: list[str]
) -> None:
    with live.api() as api:
        cid = linked_connection(api, "Loja", "5511990004444")
        chat_id, _poll_id, poll_wa = _conversation(api, cid)
    sign_in(page, live)
    page.goto(f"{live.url}/app/inbox/{chat_id}")
    ours = page.get_by_test_id("bubble-poll").filter(has_text="Qual tamanho?")
    expect(ours).to_be_visible()
    expect(ours).to_contain_text("Escolha uma opção")
    expect(ours.get_by_test_id("poll-total")).to_have_text("1 voto")
    expect(_option(page, "Qual tamanho?", "M")).to_have_attribute("data-count", "1")
    expect(_option(page, "Qual tamanho?", "P")).to_have_attribute("data-count", "0")
    expect(_option(page, "Qual tamanho?", "M").locator("progress")).to_have_attribute("value", "1")
    theirs = page.get_by_test_id("bubble-poll").filter(has_text="Abre domingo?")
    expect(theirs).to_contain_text("Escolha uma ou mais opções")
    expect(theirs.get_by_test_id("poll-total")).to_have_text("0 votos")
    page.wait_for_function(
        """() => {
            const img = document.querySelector(".bubble.out img.sticker");
            if (!img) return false;
            img.scrollIntoView();
            return img.complete && img.naturalWidth === 512;
        }"""
    )

    # Another member votes while the page is open: the counts follow without a reload.
    with live.api() as api:
        _vote(api, cid, poll_wa, ["G"], who=CUSTOMER)
    expect(_option(page, "Qual tamanho?", "G")).to_have_attribute("data-count", "1")
    expect(_option(page, "Qual tamanho?", "M")).to_have_attribute("data-count", "0")
    shot(page, "inbox-poll-pt-BR")

    english = browser.new_context(locale="en", viewport={"width": 1280, "height": 860})
    english.set_default_timeout(TIMEOUT_MS)
    try:
        other = english.new_page()
        sign_in(other, live)
        other.goto(f"{live.url}/app/inbox/{chat_id}")
        poll = other.get_by_test_id("bubble-poll").filter(has_text="Qual tamanho?")
        expect(poll).to_contain_text("Choose one option")
        expect(poll.get_by_test_id("poll-total")).to_have_text("1 vote")
        assert "⟦" not in other.content()
        shot(other, "inbox-poll-en")
    finally:
        english.close()
    assert dialogs == []
