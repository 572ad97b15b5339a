"""Every page in both languages, on a desktop and a 375-px phone: translated, no
horizontal scroll, and a screenshot under artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import ADMIN, TIMEOUT_MS, LiveServer, linked_connection, shot

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 375, "height": 740}}


def _seed(live: LiveServer) -> dict[str, str]:
    with live.api() as api:
        ready = linked_connection(api, "Recepção", "5511990004444")
        api.patch(f"/connections/{ready}", json={"label": "agendamentos"})
        waiting = api.post("/connections", json={"name": "Número novo"}).json()["id"]
        api.post(f"/connections/{waiting}/start")
        api.post("/connections", json={"name": "Reserva", "label": "sem uso"})
        for phone, name, text in (
            ("5511981110001", "Ana Souza", "Oi! Tem horário amanhã às 9h?"),
            ("5511981110002", "Bruno Lima", "Quanto custa corte e barba?"),
        ):
            api.post(
                f"/simulator/connections/{ready}/incoming",
                json={"from": phone, "text": text, "push_name": name},
            )
        chats: list[dict[str, str]] = []
        for _ in range(100):
            chats = api.get("/chats").json()["items"]
            if len(chats) == 2:
                break
        send = api.post(
            "/messages",
            json={"to": "5511981110001", "type": "text", "text": "Temos sim! Às 9h30."},
        )
        assert send.status_code == 202, send.text
        hook = api.post(
            "/webhooks",
            json={
                "url": "http://127.0.0.1:9/zapgate-webhook",
                "events": ["message.received", "message.status"],
                "connection_id": ready,
                "description": "CRM",
            },
        )
        assert hook.status_code == 201, hook.text
        return {
            "ready": ready,
            "waiting": waiting,
            "chat": chats[0]["id"],
            "webhook": hook.json()["id"],
        }


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_every_page_translated_fits_a_phone_and_is_captured(
    browser: Browser, server_factory: Callable[..., LiveServer], language: str
) -> None:
    # Webhooks point at 127.0.0.1 (nothing listens there): no request leaves the machine.
    live = server_factory(webhook_allow_private=True)
    ids = _seed(live)
    pages = {
        "dashboard": "/app",
        "connection": f"/app/connections/{ids['ready']}",
        "inbox": "/app/inbox",
        "chat": f"/app/inbox/{ids['chat']}",
        "settings": "/app/settings",
        "users": "/app/settings/users",
        "api-keys": "/app/settings/api-keys",
        "organizations": "/app/settings/organizations",
        "webhooks": "/app/settings/webhooks",
        "webhook": f"/app/settings/webhooks/{ids['webhook']}",
    }
    for device, viewport in VIEWPORTS.items():
        context = browser.new_context(locale=language, viewport=viewport)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.goto(live.url + "/app/login")
        expect(page.locator("html")).to_have_attribute("lang", language)
        _check(page, f"login-{language}-{device}")
        page.fill("#email", ADMIN[0])
        page.fill("#password", ADMIN[1])
        page.click("button[type=submit]")
        page.wait_for_url(live.url + "/app")
        for name, path in pages.items():
            page.goto(live.url + path)
            expect(page.locator("html")).to_have_attribute("lang", language)
            _check(page, f"{name}-{language}-{device}")
        # Creating a webhook shows its signing secret once.
        page.goto(live.url + "/app/settings/webhooks")
        page.fill("#wh-url", f"http://127.0.0.1:9/{device}")
        page.locator("#wh-secret").fill("browser-secret-0123456789")
        page.locator("button.primary[type=submit]").click()
        expect(page.get_by_test_id("new-secret")).to_have_text("browser-secret-0123456789")
        _check(page, f"webhook-created-{language}-{device}")
        page.goto(live.url + "/app")
        page.locator(f"#conn-{ids['waiting']}").get_by_role(
            "button", name="Ver QR" if language == "pt-BR" else "Show QR"
        ).click()
        expect(page.locator("#modal").get_by_test_id("qr-image")).to_be_visible()
        _check(page, f"qr-modal-{language}-{device}", full_page=False)
        context.close()


def _check(page: object, name: str, *, full_page: bool = True) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    html = page.content()
    assert "⟦" not in html, f"untranslated text on {name}"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
    if full_page:
        shot(page, name)
    else:
        from tests.e2e.conftest import SCREENSHOTS

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
