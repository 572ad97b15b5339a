"""Behaviour settings, the contact's picture and block/unblock in Debian's chromium, in
Portuguese and English: a refused proxy is shown beside its field with the rest of the
form kept and its password never sent back; the conversation header shows the contact's
picture (through our own route) and blocking is one button."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, linked_connection, shot, sign_in

pytestmark = pytest.mark.browser
PASSWORD = "Prx-browser-51d0"
WORDS = {
    "pt-BR": {
        "reject": "Recusar ligações automaticamente",
        "message": "Mensagem enviada a quem ligar",
        "proxy": "Proxy",
        "save": "Salvar",
        "fix": "Algumas configurações não puderam ser salvas",
        "block": "Bloquear",
        "unblock": "Desbloquear",
        "blocked": "Bloqueado",
    },
    "en": {
        "reject": "Reject incoming calls automatically",
        "message": "Message sent to whoever calls",
        "proxy": "Proxy",
        "save": "Save",
        "fix": "Some settings could not be saved",
        "block": "Block",
        "unblock": "Unblock",
        "blocked": "Blocked",
    },
}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 140, 90)).save(out, format="JPEG")
    return out.getvalue()


def _page(browser: Browser, language: str) -> Page:
    context = browser.new_context(locale=language, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_behaviour_form_keeps_what_was_typed_and_hides_the_password(
    browser: Browser, live: LiveServer, language: str
) -> None:
    words = WORDS[language]
    page = _page(browser, language)
    try:
        with live.api() as api:
            cid = linked_connection(api, f"Loja {language}", "5511990003333")
            sign_in(page, live)
            page.goto(f"{live.url}/app/connections/{cid}")
            form = page.get_by_test_id("behaviour-form")
            form.get_by_label(words["reject"]).check()
            form.get_by_label(words["message"]).fill("Só mensagens, por favor")
            form.get_by_label(words["proxy"], exact=True).fill(f"ftp://joao:{PASSWORD}@10.9.8.7:21")
            form.get_by_role("button", name=words["save"]).click()

            expect(page.get_by_test_id("form-errors")).to_contain_text(words["fix"])
            expect(page.get_by_test_id("error-proxy_url")).to_be_visible()
            form = page.get_by_test_id("behaviour-form")
            expect(form.get_by_label(words["reject"])).to_be_checked()
            expect(form.get_by_label(words["message"])).to_have_value("Só mensagens, por favor")
            expect(form.get_by_label(words["proxy"], exact=True)).to_have_value("")
            assert PASSWORD not in page.content()
            shot(page, f"behaviour-refused-{language}")
            assert api.get(f"/connections/{cid}").json()["reject_calls"] is False

            form.get_by_label(words["proxy"], exact=True).fill(
                f"socks5://joao:{PASSWORD}@10.9.8.7:1080"
            )
            form.get_by_role("button", name=words["save"]).click()
            expect(page.get_by_test_id("current-proxy")).to_have_text(
                "socks5://joao:***@10.9.8.7:1080"
            )
            assert PASSWORD not in page.content()
            saved = api.get(f"/connections/{cid}").json()
            assert saved["reject_calls"] is True
            assert saved["reject_call_message"] == "Só mensagens, por favor"
    finally:
        page.context.close()


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_conversation_shows_the_picture_and_blocks_the_contact(
    browser: Browser, live: LiveServer, language: str
) -> None:
    words = WORDS[language]
    customer = "5511981110001" if language == "en" else "5511981110002"
    page = _page(browser, language)
    try:
        with live.api() as api:
            cid = linked_connection(api, f"Recepção {language}", "5511990004444")
            set_picture = api.post(
                "/simulator/contacts/profile",
                json={
                    "phone": customer,
                    "picture": {
                        "base64": base64.b64encode(jpeg()).decode(),
                        "mimetype": "image/jpeg",
                    },
                },
            )
            assert set_picture.status_code == 204, set_picture.text
            sent = api.post(
                f"/simulator/connections/{cid}/incoming",
                json={"from": customer, "text": "Oi!", "push_name": "Bruna"},
            )
            assert sent.status_code == 200
            sign_in(page, live)
            page.goto(live.url + "/app/inbox")
            page.locator("#chat-list a").first.click()
            picture = page.get_by_test_id("contact-picture")
            expect(picture).to_be_visible()
            page.wait_for_function(
                "() => document.querySelector('[data-testid=contact-picture]').naturalWidth === 64"
            )

            page.get_by_test_id("block-toggle").click()
            expect(page.get_by_test_id("blocked-badge")).to_have_text(words["blocked"])
            expect(page.get_by_test_id("block-toggle")).to_have_text(words["unblock"])
            shot(page, f"contact-blocked-{language}")
            contacts = api.get("/contacts", params={"q": customer}).json()["items"]
            assert contacts[0]["blocked"] is True
            page.get_by_test_id("block-toggle").click()
            expect(page.get_by_test_id("block-toggle")).to_have_text(words["block"])
            expect(page.get_by_test_id("blocked-badge")).to_have_count(0)
    finally:
        page.context.close()
