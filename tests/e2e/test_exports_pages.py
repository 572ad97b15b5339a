"""Settings → Exports in Debian's chromium, in both languages: a refused form shows the
error beside its field with the rest kept, the broker URL's password never reaches the
page, the machine's NATS receives the events (delivery log, redelivery), and each page
fits a 1280-px desktop and a 375-px phone, light and dark, with a screenshot of each
(under ``ZAPGATE_SHOTS_DIR``, default artifacts/screenshots/exports) for a person to
look at."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import nats
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import ADMIN, SCREENSHOTS, TIMEOUT_MS, LiveServer
from tests.integration.exports.brokers import NATS_URL, free_port

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("ZAPGATE_SHOTS_DIR") or SCREENSHOTS / "exports")
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 375, "height": 740}}
PASSWORD = "Pa55-browser-4be1"
WORDS = {
    "pt-BR": {
        "tab": "Exportações",
        "open": "Detalhes e entregas",
        "delivered": "Entregue",
        "redeliver": "Reenviar",
        "save": "Salvar",
        "delete": "Excluir",
        "bad_stream": "Nomes de stream têm até 255",
        "empty": "Nenhuma exportação ainda.",
    },
    "en": {
        "tab": "Exports",
        "open": "Details and deliveries",
        "delivered": "Delivered",
        "redeliver": "Redeliver",
        "save": "Save",
        "delete": "Delete",
        "bad_stream": "Stream names have up to 255",
        "empty": "No exports yet.",
    },
}


def _drop_stream(name: str) -> None:
    """Delete the test's JetStream stream (from a thread: Playwright's loop runs here)."""

    async def drop() -> None:
        client = await nats.connect(NATS_URL)
        try:
            await client.jetstream().delete_stream(name)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await client.close()

    worker = threading.Thread(target=asyncio.run, args=(drop(),))
    worker.start()
    worker.join(timeout=30)


Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")


def _open(browser: Browser, live: LiveServer, language: str, device: str, scheme: Scheme) -> Page:
    context: BrowserContext = browser.new_context(
        locale=language, viewport=VIEWPORTS[device], color_scheme=scheme
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the panel's own confirms
    page.goto(live.url + "/app/login")
    page.fill("#email", ADMIN[0])
    page.fill("#password", ADMIN[1])
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/app")
    return page


def _check(page: Page, name: str) -> None:
    html = page.content()
    assert "⟦" not in html, f"untranslated text on {name}"
    assert PASSWORD not in html, f"the broker password is on {name}"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
    SHOTS.mkdir(parents=True, exist_ok=True)
    # From the top: scrolled, the sticky bar would be drawn over the middle of the shot.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _refused_form(page: Page, live: LiveServer, stream: str) -> None:
    """Fill the create form for NATS with a stream name NATS refuses, and send it."""
    page.goto(live.url + "/app/settings/exports")
    page.select_option("#ex-kind", "nats")
    page.fill("#ex-url", f"nats://zapgate:{PASSWORD}@127.0.0.1:4222")
    page.fill("#ex-stream", stream)
    page.fill("#ex-prefix", "acme.events")
    page.fill("#ex-description", "CRM feed")
    page.uncheck("#ex-ev-all")
    page.locator('#add-export input[name=events][value="connection.created"]').check()
    page.locator("#add-export button[type=submit]").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_exports_settings_in_both_languages_on_desktop_and_phone(
    browser: Browser, server_factory: Callable[..., LiveServer], language: str
) -> None:
    words = WORDS[language]
    live = server_factory(webhook_allow_private=True)
    stream = f"zgtest_e2e_{uuid.uuid4().hex[:10]}"
    try:
        page = _open(browser, live, language, "desktop", "light")
        page.goto(live.url + "/app/settings")
        page.get_by_role("link", name=words["tab"], exact=True).click()
        expect(page.get_by_text(words["empty"])).to_be_visible()
        # The create form shows only the chosen broker's field.
        expect(page.locator("#ex-exchange")).to_be_visible()
        page.select_option("#ex-kind", "nats")
        expect(page.locator("#ex-exchange")).to_be_hidden()
        expect(page.locator("#ex-stream")).to_be_visible()

        _refused_form(page, live, "bad.name")
        expect(page.locator("#ex-stream-error")).to_contain_text(words["bad_stream"])
        expect(page.locator("#ex-stream")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#ex-stream")).to_have_value("bad.name")
        expect(page.locator("#ex-prefix")).to_have_value("acme.events")
        expect(page.locator("#ex-description")).to_have_value("CRM feed")
        expect(page.locator("#ex-kind")).to_have_value("nats")
        expect(page.locator('#add-export input[value="connection.created"]')).to_be_checked()
        expect(page.locator("#ex-ev-all")).not_to_be_checked()
        expect(page.locator("#ex-url")).to_have_value("")  # the password is not sent back
        expect(page.get_by_test_id("url-withheld")).to_be_visible()
        assert PASSWORD not in page.content()

        page.fill("#ex-url", f"nats://zapgate:{PASSWORD}@127.0.0.1:4222")
        page.fill("#ex-stream", stream)
        page.locator("#add-export button[type=submit]").click()
        card = page.get_by_test_id("export")
        expect(card.get_by_test_id("export-url")).to_have_text("nats://zapgate:***@127.0.0.1:4222")
        assert PASSWORD not in page.content()

        with live.api() as api:
            failing = api.post(
                "/exports",
                json={
                    "kind": "nats",
                    "url": f"nats://zapgate:{PASSWORD}@127.0.0.1:{free_port()}",
                    "stream": "S",
                    "description": "broker down",
                },
            )
            assert failing.status_code == 201, failing.text
            shop = api.post("/connections", json={"name": "Loja"})
            assert shop.status_code == 201, shop.text
        card.get_by_role("link", name=words["open"]).click()
        status = page.get_by_test_id("delivery-status").first
        deadline = time.monotonic() + 20
        while status.text_content() != words["delivered"]:
            assert time.monotonic() < deadline, "the event was not delivered to NATS"
            page.wait_for_timeout(200)
            page.reload()
        page.get_by_role("button", name=words["redeliver"]).first.click()
        expect(page.locator("#toasts .toast")).to_be_visible()

        page.fill("#ee-description", "CRM feed (edited)")
        page.get_by_role("button", name=words["save"], exact=True).click()
        expect(page.locator("#ee-description")).to_have_value("CRM feed (edited)")
        expect(page.get_by_test_id("current-url")).to_have_text("nats://zapgate:***@127.0.0.1:4222")
        detail = page.url
        page.context.close()

        for device in VIEWPORTS:
            for scheme in SCHEMES:
                page = _open(browser, live, language, device, scheme)
                suffix = f"{language}-{device}-{scheme}"
                page.goto(live.url + "/app/settings/exports")
                _check(page, f"exports-list-{suffix}")
                page.goto(detail)
                expect(page.get_by_test_id("delivery").first).to_be_visible()
                _check(page, f"export-detail-{suffix}")
                page.goto(live.url + "/app/settings/exports/" + failing.json()["id"])
                expect(page.get_by_test_id("delivery-error").first).to_be_visible()
                _check(page, f"export-failing-{suffix}")
                _refused_form(page, live, "bad.name")
                # The page comes back focused on the wrong field, scrolled to it.
                expect(page.locator("#ex-stream")).to_be_focused()
                expect(page.locator("#ex-stream-error")).to_be_in_viewport()
                page.screenshot(path=str(SHOTS / f"export-form-error-{suffix}-viewport.png"))
                _check(page, f"export-form-error-{suffix}")
                page.context.close()

        page = _open(browser, live, language, "desktop", "light")
        page.goto(live.url + "/app/settings/exports")
        while page.get_by_test_id("export").count():
            before = page.get_by_test_id("export").count()
            page.get_by_test_id("export").first.get_by_role("button", name=words["delete"]).click()
            expect(page.get_by_test_id("export")).to_have_count(before - 1)
        expect(page.get_by_text(words["empty"])).to_be_visible()
        page.context.close()
    finally:
        _drop_stream(stream)
