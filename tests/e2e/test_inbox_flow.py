"""The inbox live: a customer writes, the agent answers, ticks advance, the chat closes
and reopens as pending; hostile text stays text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, linked_connection, shot, sign_in

pytestmark = pytest.mark.browser
HOSTILE = "<script>alert(1)</script> e <img src=x onerror=alert(2)>"


def test_customer_message_reply_ticks_close_and_reopen(
    page: Page, live: LiveServer, dialogs: list[str]
) -> None:
    with live.api() as api:
        cid = linked_connection(api, "Recepção", "5511990002222")
        sign_in(page, live)
        page.goto(live.url + "/app/inbox")
        expect(page.locator("body")).to_have_attribute("data-live-state", "on")
        expect(page.get_by_text("Nenhuma conversa aqui.")).to_be_visible()

        sent = api.post(
            f"/simulator/connections/{cid}/incoming",
            json={"from": "5511981234567", "text": HOSTILE, "push_name": "Maria <i>"},
        )
        assert sent.status_code == 200, sent.text
        item = page.locator("#chat-list a").first
        expect(item).to_contain_text("Maria <i>")  # appears live, as text
        expect(item.get_by_test_id("unread")).to_have_text("1")
        shot(page, "inbox-unread-pt-BR-desktop")

        item.click()
        bubble = page.get_by_test_id("bubble").first
        expect(bubble).to_contain_text("<script>alert(1)</script>")
        expect(bubble).to_contain_text("<img src=x onerror=alert(2)>")
        expect(page.locator("#messages img")).to_have_count(0)
        expect(page.locator("#chat-list").get_by_test_id("unread")).to_have_count(0)  # read

        page.fill("#composer-text", "Olá Maria! Temos horário às 10h.")
        page.keyboard.press("Enter")
        mine = page.locator(".bubble.out").last
        expect(mine).to_contain_text("Temos horário às 10h.")
        expect(page.locator("#composer-text")).to_have_value("")
        # The simulated phone acknowledges: sent → delivered → read, live.
        expect(mine.get_by_test_id("ticks")).to_have_attribute("data-tick", "read", timeout=30_000)
        expect(page.get_by_test_id("chat-status")).to_have_text("Em atendimento")
        shot(page, "chat-pt-BR-desktop")

        page.get_by_role("button", name="Encerrar conversa").click()
        expect(page.get_by_test_id("chat-status")).to_have_text("Encerrada")
        again = api.post(
            f"/simulator/connections/{cid}/incoming",
            json={"from": "5511981234567", "text": "Esqueci de perguntar o preço"},
        )
        assert again.status_code == 200
        expect(page.get_by_test_id("chat-status")).to_have_text("Pendente")
        expect(page.locator(".bubble.in").last).to_contain_text("Esqueci de perguntar o preço")
    assert not [d for d in dialogs if d.startswith("alert")], dialogs


def test_contact_panel_saves_crm_fields(page: Page, live: LiveServer) -> None:
    with live.api() as api:
        cid = linked_connection(api, "Vendas", "5511990003333")
        api.post(
            f"/simulator/connections/{cid}/incoming",
            json={"from": "5511981112222", "text": "Oi", "push_name": "João"},
        )
        sign_in(page, live)
        page.goto(live.url + "/app/inbox")
        page.locator("#chat-list a").first.click()
        page.fill("#c-company", "Padaria Central")
        page.fill("#c-tags", "vip, atacado")
        page.fill("#c-notes", "Prefere contato à tarde.")
        page.get_by_role("button", name="Salvar").click()
        expect(page.locator("#toasts")).to_contain_text("Salvo.")
        contacts = api.get("/contacts", params={"q": "5511981112222"}).json()["items"]
        assert contacts[0]["company"] == "Padaria Central"
        assert contacts[0]["tags"] == ["vip", "atacado"]
        assert re.search("tarde", contacts[0]["notes"])


def test_form_post_without_csrf_token_is_refused(page: Page, live: LiveServer) -> None:
    sign_in(page, live)
    refused = page.request.post(live.url + "/app/connections", form={"name": "forged"})
    assert refused.status == 403
    with live.api() as api:
        assert api.get("/connections").json()["items"] == []
