"""A group chat's side panel and the number's own profile in Debian's chromium: the
group made on the simulator shows its participants (formatted phones, names, admin
badges), one is promoted, the invite link is revealed and copied, and the number's
WhatsApp name is changed on its detail page. Screenshots of both, at 1280 and 375 px,
in Portuguese and English, light and dark, go to /tmp/panel-groups-shots/."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, linked_connection, sign_in

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/panel-groups-shots")
ME = "5511990006666"
ANA = "5511981230001"
BIA = "5511981230002"


def group_chat(api: httpx.Client, cid: str) -> tuple[str, str]:
    made = api.post(
        f"/connections/{cid}/groups",
        json={"subject": "Clientes VIP", "participants": [ANA, BIA]},
    )
    assert made.status_code == 201, made.text
    jid = made.json()["jid"]
    for phone, name in ((ANA, "Ana Souza"), (BIA, "Bia Lima")):
        said = api.post(
            f"/simulator/connections/{cid}/incoming",
            json={"from": phone, "text": f"Oi, sou a {name}", "push_name": name, "group": jid},
        )
        assert said.status_code == 200, said.text
    deadline = time.monotonic() + 15  # a real server: polled with a deadline
    while time.monotonic() < deadline:
        chats = [c for c in api.get("/chats").json()["items"] if c["is_group"]]
        if chats and chats[0]["last_message_at"]:
            return chats[0]["id"], jid
        time.sleep(0.1)
    raise AssertionError("the group chat was not stored")


def _page(browser: Browser, language: str, width: int, theme: str) -> Page:
    phone = width < 600
    context = browser.new_context(
        locale=language,
        viewport={"width": width, "height": 860 if not phone else 740},
        is_mobile=phone,
        has_touch=phone,
        color_scheme="dark" if theme == "dark" else "light",
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    return context.new_page()


def test_group_panel_and_own_profile(browser: Browser, live: LiveServer) -> None:
    with live.api() as api:
        cid = linked_connection(api, "Recepção", ME)
        chat_id, jid = group_chat(api, cid)
        page = _page(browser, "pt-BR", 1280, "light")
        try:
            sign_in(page, live)
            page.goto(f"{live.url}/app/inbox/{chat_id}")
            panel = page.get_by_test_id("group-panel")
            people = panel.get_by_test_id("participant")
            expect(people).to_have_count(3)
            expect(panel.get_by_test_id("participants")).to_contain_text("+55 11 98123-0001")
            expect(panel.get_by_test_id("participants")).to_contain_text("Ana Souza")
            expect(panel.get_by_test_id("admin-badge")).to_have_count(1)
            expect(panel.get_by_label("Assunto")).to_have_value("Clientes VIP")

            bia = panel.locator(f'[data-testid=participant][data-phone="{BIA}"]')
            bia.get_by_test_id("promote").click()
            expect(page.get_by_test_id("group-notice")).to_have_text(
                "O participante agora é admin."
            )
            expect(bia.get_by_test_id("admin-badge")).to_have_text("Admin")
            admins = {
                p["phone"]
                for p in api.get(f"/connections/{cid}/groups/{jid}").json()["participants"]
                if p["is_admin"]
            }
            assert admins == {ME, BIA}

            page.get_by_test_id("show-invite").click()
            link = page.get_by_test_id("invite-link")
            expect(link).to_contain_text("https://chat.whatsapp.com/")
            url = link.inner_text().strip()
            assert url == api.get(f"/connections/{cid}/groups/{jid}/invite").json()["url"]
            page.get_by_test_id("copy-invite").click()
            expect(page.locator("#toasts")).to_contain_text("Link copiado")
            assert page.evaluate("navigator.clipboard.readText()") == url

            page.goto(f"{live.url}/app/connections/{cid}")
            form = page.get_by_test_id("profile-form")
            form.get_by_label("Nome").fill("Barbearia do Zé")
            form.get_by_label("Recado").fill("Atendemos das 9h às 18h")
            form.get_by_role("button", name="Salvar").click()
            expect(page.get_by_test_id("profile-saved")).to_be_visible()
            expect(page.get_by_test_id("profile-form").get_by_label("Nome")).to_have_value(
                "Barbearia do Zé"
            )
            conn = api.get(f"/connections/{cid}").json()
            assert (conn["push_name"], conn["profile_status"]) == (
                "Barbearia do Zé",
                "Atendemos das 9h às 18h",
            )
        finally:
            page.context.close()

        SHOTS.mkdir(parents=True, exist_ok=True)
        for language in ("pt-BR", "en"):
            for width in (1280, 375):
                for theme in ("light", "dark"):
                    shots = _page(browser, language, width, theme)
                    try:
                        sign_in(shots, live)
                        name = f"{language}-{width}-{theme}"
                        shots.goto(f"{live.url}/app/inbox/{chat_id}")
                        expect(shots.get_by_test_id("participant")).to_have_count(3)
                        if width == 1280:
                            shots.get_by_test_id("group-panel").screenshot(
                                path=str(SHOTS / f"group-{name}.png")
                            )
                            shots.screenshot(path=str(SHOTS / f"inbox-{name}.png"))
                        else:
                            # Folded on a phone (as a contact's form is): one tap opens it.
                            shots.locator(".contact-details > summary").click()
                            expect(shots.get_by_test_id("show-invite")).to_be_visible()
                            shots.screenshot(path=str(SHOTS / f"group-{name}.png"), full_page=True)
                        shots.goto(f"{live.url}/app/connections/{cid}")
                        shots.locator("#own-profile").screenshot(
                            path=str(SHOTS / f"profile-{name}.png")
                        )
                        wide = shots.evaluate("document.documentElement.scrollWidth")
                        assert wide <= width, (name, wide)
                    finally:
                        shots.context.close()
