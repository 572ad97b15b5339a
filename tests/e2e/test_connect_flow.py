"""Setup, login, create a connection, QR with countdown, simulated scan, live `ready`."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot

pytestmark = pytest.mark.browser


def test_setup_login_create_connect_and_go_ready(
    page: Page, server_factory: Callable[..., LiveServer]
) -> None:
    live = server_factory(admin_email=None, admin_password=None)
    page.goto(live.url + "/")
    expect(page).to_have_url(live.url + "/app/setup")
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")  # Accept-Language pt-BR
    shot(page, "setup-pt-BR-desktop")
    page.fill("#organization", "Barbearia do Zé")
    page.fill("#email", "ze@example.com")
    page.fill("#password", "senha-do-ze-1")
    page.click("button[type=submit]")
    expect(page).to_have_url(live.url + "/app")
    expect(page.get_by_role("heading", name="Conexões")).to_be_visible()

    # Sign out and back in through the login page.
    page.get_by_role("button", name="Sair").click()
    expect(page).to_have_url(live.url + "/app/login")
    shot(page, "login-pt-BR-desktop")
    page.fill("#email", "ze@example.com")
    page.fill("#password", "senha-do-ze-1")
    page.click("button[type=submit]")
    expect(page).to_have_url(live.url + "/app")
    expect(page.locator("body")).to_have_attribute("data-live-state", "on")

    # A marker that a reload would wipe out.
    page.evaluate("window.__noReload = 'still here'")
    page.get_by_role("button", name="Nova conexão").click()
    page.fill("#new-name", "Recepção <b>1</b>")
    page.fill("#new-label", "agenda")
    page.get_by_role("button", name="Criar").click()

    modal = page.locator("#modal")
    expect(modal).to_be_visible()
    expect(modal.get_by_test_id("qr-image")).to_be_visible()
    countdown = modal.get_by_test_id("countdown")
    expect(countdown).to_have_text(re.compile(r"^[01]:\d\d$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first)  # it counts down
    expect(modal.get_by_text("Abra o WhatsApp no seu celular.")).to_be_visible()
    expect(modal.get_by_text("Usar um código de pareamento")).to_be_visible()
    shot(page, "qr-modal-pt-BR-desktop")

    card = page.locator("article.card").first
    expect(card.get_by_test_id("state")).to_have_text("Aguardando leitura do QR")
    expect(card.locator("h2")).to_have_text("Recepção <b>1</b>")  # escaped, shown as text

    # The phone scans, through the simulator API (as an integration would).
    cid = (card.get_attribute("id") or "").removeprefix("conn-")
    with live.api("ze@example.com", "senha-do-ze-1") as api:
        scanned = api.post(
            f"/simulator/connections/{cid}/scan",
            json={"phone": "5511990001111", "push_name": "Zé"},
        )
        assert scanned.status_code == 204, scanned.text

    expect(modal).to_be_hidden()  # closes by itself once ready
    expect(card.get_by_test_id("state")).to_have_text("Conectada")
    expect(card).to_contain_text("+55 11 99000-1111")
    assert page.evaluate("window.__noReload") == "still here"
    totals = page.locator("section.totals")
    expect(totals.locator(".total").nth(1).locator(".n")).to_have_text("1")
    shot(page, "dashboard-ready-pt-BR-desktop")


def test_simulate_scan_button_and_pairing_code(page: Page, live: LiveServer) -> None:
    from tests.e2e.conftest import sign_in

    sign_in(page, live)
    page.get_by_role("button", name="Nova conexão").click()
    page.fill("#new-name", "Vendas")
    page.get_by_role("button", name="Criar").click()
    modal = page.locator("#modal")
    expect(modal.get_by_test_id("qr-image")).to_be_visible()
    # The pairing-code form, then back to QR by reconnecting.
    modal.get_by_text("Usar um código de pareamento").click()
    modal.locator("#pair-phone").fill("+55 11 98888-7777")
    modal.get_by_role("button", name="Gerar código").click()
    expect(modal.get_by_test_id("pairing-code")).to_have_text(
        re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$")
    )
    modal.get_by_role("button", name="Fechar").click()
    expect(modal).to_be_hidden()
    card = page.locator("article.card").first
    expect(card.get_by_test_id("state")).to_have_text("Aguardando código de pareamento")
    card.get_by_role("button", name="Parar").click()
    expect(card.get_by_test_id("state")).to_have_text("Desconectada")
    card.get_by_role("button", name="Conectar").click()
    expect(modal.get_by_test_id("qr-image")).to_be_visible()
    modal.get_by_test_id("simulate-scan").click()
    expect(modal).to_be_hidden()
    expect(card.get_by_test_id("state")).to_have_text("Conectada")
