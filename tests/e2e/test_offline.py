"""WhatsApp out of reach (the simulator's network down, as whatsmeow reports it): the
QR modal, the card and the detail page say why in plain words, in the visitor's
language, with the next try's time; the engine's raw text waits behind "details"."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, sign_in

pytestmark = pytest.mark.browser
WORDS = {
    "pt-BR": {
        "reason": "Não foi possível alcançar o WhatsApp (web.whatsapp.com): verifique a "
        "internet ou o DNS.",
        "no_qr": "Ainda não há QR code",
        "next": "Nova tentativa às",
        "details": "Detalhes",
        "new": "Nova conexão",
        "create": "Criar",
    },
    "en": {
        "reason": "WhatsApp (web.whatsapp.com) could not be reached: check the internet "
        "connection or the DNS.",
        "no_qr": "No QR code yet",
        "next": "Next try at",
        "details": "Details",
        "new": "New connection",
        "create": "Create",
    },
}
RAW = "no such host"


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_whatsapp_out_of_reach_is_explained_everywhere(
    browser: Browser, live: LiveServer, language: str
) -> None:
    with live.api() as api:
        assert api.post("/simulator/network/false").status_code == 204
    words = WORDS[language]
    ctx = browser.new_context(locale=language, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        sign_in(page, live)
        page.get_by_role("button", name=words["new"]).click()
        page.fill("#new-name", "Loja")
        page.get_by_role("button", name=words["create"], exact=True).click()
        modal = page.locator("#modal")
        offline = modal.get_by_test_id("modal-offline")
        expect(offline).to_contain_text(words["no_qr"])
        expect(offline.get_by_test_id("reason")).to_have_text(words["reason"])
        expect(offline.get_by_test_id("next-retry")).to_contain_text(words["next"])
        raw = offline.locator("details")
        expect(raw.locator("code")).not_to_be_visible()
        raw.get_by_text(words["details"]).click()
        expect(raw.locator("code")).to_contain_text(RAW)
        expect(modal.locator(".spinner")).to_have_count(0)
        page.screenshot(path=f"/tmp/panel-shots/offline-modal-{language}-1280.png")
        modal.locator(".dialog-head [data-close-modal]").click()

        card = page.locator("article.card").first
        expect(card.get_by_test_id("reason")).to_have_text(words["reason"])
        expect(card.get_by_test_id("next-retry")).to_contain_text(words["next"])
        card.locator("h2 a").click()
        status = page.locator("#conn-status")
        expect(status.get_by_test_id("reason")).to_have_text(words["reason"])
        expect(status.get_by_test_id("next-retry")).to_be_visible()
        # The time of the next try reads with seconds (HH:MM:SS).
        assert status.get_by_test_id("next-retry").locator("time").inner_text().count(":") == 2
        expect(status.locator("details code").first).to_contain_text(RAW)
        page.screenshot(path=f"/tmp/panel-shots/offline-detail-{language}-1280.png")

        # The network comes back: the connection links as usual, the reason is gone.
        with live.api() as api:
            assert api.post("/simulator/network/true").status_code == 204
        expect(page.get_by_test_id("state").first).not_to_have_text("Reconectando", timeout=60_000)
    finally:
        ctx.close()


def _whatsapp_resolves() -> bool:
    try:
        socket.getaddrinfo("web.whatsapp.com", 443)
    except OSError:
        return False
    return True


def test_the_real_engine_without_internet_explains_instead_of_spinning(
    page: Page, server_factory: Callable[..., LiveServer]
) -> None:
    """The neonize engine on a machine that cannot resolve WhatsApp (this test machine):
    the QR modal shows the plain reason and the next try, not an endless spinner."""
    if _whatsapp_resolves():
        pytest.skip("web.whatsapp.com resolves here: the real engine would link instead")
    live = server_factory(engine="neonize")
    sign_in(page, live)
    page.get_by_role("button", name=WORDS["pt-BR"]["new"]).click()
    page.fill("#new-name", "Loja real")
    page.get_by_role("button", name=WORDS["pt-BR"]["create"], exact=True).click()
    offline = page.locator("#modal").get_by_test_id("modal-offline")
    expect(offline.get_by_test_id("reason")).to_have_text(WORDS["pt-BR"]["reason"], timeout=60_000)
    expect(offline.get_by_test_id("next-retry")).to_be_visible()
    expect(offline.locator("details code")).to_contain_text("web.whatsapp.com")
    page.screenshot(path="/tmp/panel-shots/offline-real-engine-pt-BR-1280.png")
