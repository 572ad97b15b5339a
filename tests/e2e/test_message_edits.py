"""Edited and deleted messages in the conversation, and an agent correcting its own
message with the keyboard alone: edit it, then delete it for everyone."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, linked_connection, shot, sign_in

pytestmark = pytest.mark.browser

CUSTOMER = "5511981237777"


def _incoming(api: httpx.Client, cid: str, **body: Any) -> str:
    sent = api.post(f"/simulator/connections/{cid}/incoming", json={"from": CUSTOMER, **body})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["wa_message_id"])


def _wait(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _conversation(api: httpx.Client, cid: str) -> tuple[str, str]:
    """A customer who edits one message and deletes another, and a text of ours that
    WhatsApp took; the chat's id and our message's id."""
    edited = _incoming(api, cid, text="quero 2 camisas")
    deleted = _incoming(api, cid, text="número do cartão 1234")
    ours = api.post("/messages", json={"to": CUSTOMER, "text": "Total: R$ 100"})
    assert ours.status_code == 202, ours.text
    mid = ours.json()["id"]
    _wait(lambda: api.get(f"/messages/{mid}").json()["sent_at"], "our message sent")
    _incoming(api, cid, type="edit", message_id=edited, text="quero 3 camisas")
    _incoming(api, cid, type="revoke", message_id=deleted)

    def changed() -> str | None:
        chat_id = str(api.get("/chats").json()["items"][0]["id"])
        items = api.get(f"/chats/{chat_id}/messages").json()["items"]
        done = any(m["edited_at"] for m in items) and any(m["revoked_at"] for m in items)
        return chat_id if done else None

    return str(_wait(changed, "the customer's changes stored")), mid


def test_edited_and_deleted_messages_and_correcting_our_own(page: Page, live: LiveServer) -> None:
    with live.api() as api:
        cid = linked_connection(api, "Loja", "5511990007777")
        chat_id, mid = _conversation(api, cid)
    sign_in(page, live)
    page.goto(f"{live.url}/app/inbox/{chat_id}")

    theirs = page.locator(".bubble.in")
    edited = theirs.filter(has_text="quero 3 camisas")
    expect(edited.get_by_test_id("bubble-edited")).to_have_text("editada")
    expect(page.get_by_test_id("bubble-revoked")).to_have_text("Mensagem apagada")
    expect(page.locator("#messages")).not_to_contain_text("número do cartão")
    expect(page.get_by_test_id("bubble-revoked").locator("..")).not_to_contain_text("Responder")
    # A customer's message offers nothing to change.
    expect(theirs.get_by_text("Editar")).to_have_count(0)
    expect(theirs.get_by_role("button", name="Apagar para todos")).to_have_count(0)

    # Keyboard only: "Editar" puts the text in the composer, Enter sends the new one.
    page.locator(f"#msg-{mid}").get_by_role("button", name="Editar").focus()
    page.keyboard.press("Enter")
    composer = page.get_by_label("Digite uma mensagem")
    expect(composer).to_be_focused()
    expect(composer).to_have_value("Total: R$ 100")
    expect(page.get_by_test_id("editing")).to_be_visible()
    page.keyboard.press("Control+A")
    page.keyboard.type("Total: R$ 90")
    with page.expect_response(lambda r: r.url.endswith(f"/app/send/{chat_id}")) as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 204, answer.value.text()
    expect(page.get_by_test_id("editing")).to_be_hidden()
    expect(composer).to_have_value("")
    mine = page.locator(f"#msg-{mid}")
    expect(mine).to_contain_text("Total: R$ 90")
    expect(mine.get_by_test_id("bubble-edited")).to_have_text("editada")
    shot(page, "inbox-edited-and-deleted-pt-BR-desktop")

    mine.get_by_role("button", name="Apagar para todos").focus()
    page.keyboard.press("Enter")  # the confirm is accepted by the page fixture
    expect(mine.get_by_test_id("bubble-revoked")).to_have_text("Mensagem apagada")
    expect(mine).not_to_contain_text("Total: R$ 90")
    expect(mine.get_by_role("button", name="Apagar para todos")).to_have_count(0)
    expect(page.locator("#chat-list .preview")).to_have_text("Você: Mensagem apagada")
    with live.api() as api:
        stored = api.get(f"/messages/{mid}").json()
    assert stored["revoked_at"] is not None
    assert [e["text"] for e in stored["edits"]] == ["Total: R$ 100"]
