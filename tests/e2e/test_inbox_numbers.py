"""One inbox for several numbers: every chat says which number it came in on (name and
colour), the list filters by number, a connection card opens its conversations, and the
same customer on two numbers is one contact with two labelled chats."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, linked_connection, sign_in

pytestmark = pytest.mark.browser
TEXT = {
    "pt-BR": {"chats": "Conversas", "also": "Também em:", "all": "Todos os números"},
    "en": {"chats": "Conversations", "also": "Also on:", "all": "All numbers"},
}


def _wait_chats(live: LiveServer, count: int) -> list[dict[str, str]]:
    with live.api() as api:
        for _ in range(200):
            chats: list[dict[str, str]] = api.get("/chats").json()["items"]
            if len(chats) == count:
                return chats
    raise AssertionError("the chats did not arrive")


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_chats_of_two_numbers_are_labelled_filtered_and_linked(
    browser: Browser, live: LiveServer, language: str
) -> None:
    with live.api() as api:
        shop = linked_connection(api, "Loja Centro", "5511990005555")
        sales = linked_connection(api, "Vendas", "5511990006666")
        for cid, phone, name, text in (
            (shop, "5511981234567", "Maria", "Oi, loja!"),
            (sales, "5511981234567", "Maria", "Oi, vendas!"),
            (sales, "5511987650000", "Pedro", "Quero um orçamento"),
        ):
            sent = api.post(
                f"/simulator/connections/{cid}/incoming",
                json={"from": phone, "text": text, "push_name": name},
            )
            assert sent.status_code == 200, sent.text
    chats = _wait_chats(live, 3)
    maria = [c for c in chats if c["jid"].startswith("5511981234567")]
    assert len({c["contact_id"] for c in maria}) == 1  # one person, two chats

    ctx = browser.new_context(locale=language, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        sign_in(page, live)
        words = TEXT[language]
        # The card opens its number's conversations.
        card = page.locator(f"#conn-{sales}")
        card.get_by_role("link", name=words["chats"]).click()
        page.wait_for_url(f"**/app/inbox?connection={sales}")
        items = page.locator("#chat-list a")
        expect(items).to_have_count(2)
        for i in range(2):
            expect(items.nth(i).get_by_test_id("chat-connection")).to_have_text("Vendas")
        expect(page.get_by_test_id("connection-filter")).to_have_value(sales)

        # Every number again: Maria twice, each chat labelled with its own number.
        page.get_by_test_id("connection-filter").select_option("")
        page.wait_for_url("**/app/inbox?**connection=")
        expect(items).to_have_count(3)
        marias = items.filter(has_text="Maria")
        expect(marias).to_have_count(2)
        labels = sorted(marias.get_by_test_id("chat-connection").all_inner_texts())
        assert labels == ["Loja Centro", "Vendas"]
        tags = marias.get_by_test_id("chat-connection")
        assert tags.nth(0).get_attribute("class") != tags.nth(1).get_attribute("class")

        # The conversation names its number, the phone for humans, and the other chat.
        marias.filter(has=page.get_by_text("Loja Centro")).click()
        expect(page.get_by_test_id("conversation-connection")).to_contain_text("Loja Centro")
        expect(page.get_by_test_id("chat-phone")).to_have_text("+55 11 98123-4567")
        also = page.get_by_test_id("also-on")
        expect(also).to_contain_text(words["also"])
        also.get_by_role("link", name="Vendas").click()
        expect(page.get_by_test_id("conversation-connection")).to_contain_text("Vendas")
        expect(page.locator(".bubble.in").last).to_contain_text("Oi, vendas!")
        expect(page.get_by_test_id("also-on").get_by_role("link")).to_have_text("Loja Centro")
        page.screenshot(path=f"/tmp/panel-shots/inbox-numbers-{language}-1280.png")
    finally:
        ctx.close()
