"""Webhooks in the panel: a refused URL comes back inline with the form kept and the
setting that allows it; "send a test event" makes a real delivery that appears live in
the table; each attempt's request body and response open in a dialog."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, sign_in

pytestmark = pytest.mark.browser
WORDS = {
    "pt-BR": {
        "create": "Criar webhook",
        "private": "privado ou local",
        "test": "Enviar evento de teste",
        "view": "Ver",
        "sent": "Evento de teste enviado.",
    },
    "en": {
        "create": "Create webhook",
        "private": "private or local",
        "test": "Send a test event",
        "view": "View",
        "sent": "Test event sent.",
    },
}


class _Hook(BaseHTTPRequestHandler):
    bodies: list[dict[str, object]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        answer = b'{"received": "yes, thanks"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    _Hook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/n8n/webhook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_a_private_url_is_refused_inline_with_the_form_kept(
    browser: Browser, live: LiveServer, language: str
) -> None:
    words = WORDS[language]
    ctx = browser.new_context(locale=language, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        sign_in(page, live)
        page.goto(live.url + "/app/settings/webhooks")
        page.fill("#wh-url", "http://192.168.1.50:5678/webhook/zapgate")
        page.fill("#wh-description", "n8n da loja")
        page.locator("#wh-ev-all").uncheck()
        page.locator("input[name=events][value='message.received']").check()
        page.get_by_role("button", name=words["create"]).click()
        error = page.get_by_test_id("error-url")
        expect(error).to_contain_text(words["private"])
        expect(error).to_contain_text("192.168.1.50")
        expect(error).to_contain_text("ZAPGATE_WEBHOOK_ALLOW_PRIVATE=true")
        expect(page.locator("#wh-url")).to_have_value("http://192.168.1.50:5678/webhook/zapgate")
        expect(page.locator("#wh-url")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#wh-url")).to_be_focused()
        expect(page.locator("#wh-description")).to_have_value("n8n da loja")
        expect(page.locator("input[name=events][value='message.received']")).to_be_checked()
        expect(page.locator("#wh-ev-all")).not_to_be_checked()
        page.screenshot(
            path=f"/tmp/panel-shots/webhook-refused-{language}-1280.png", full_page=True
        )
        with live.api() as api:
            assert api.get("/webhooks").json()["items"] == []
    finally:
        ctx.close()


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_a_test_event_is_delivered_shown_live_and_inspectable(
    browser: Browser, server_factory: Callable[..., LiveServer], receiver: str, language: str
) -> None:
    live = server_factory(webhook_allow_private=True)
    words = WORDS[language]
    with live.api() as api:
        hook = api.post("/webhooks", json={"url": receiver, "events": ["message.received"]})
        assert hook.status_code == 201, hook.text
        hook_id = hook.json()["id"]
    ctx = browser.new_context(locale=language, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        sign_in(page, live)
        page.goto(live.url + f"/app/settings/webhooks/{hook_id}")
        expect(page.get_by_test_id("delivery")).to_have_count(0)
        page.get_by_role("button", name=words["test"]).click()
        expect(page.locator("#toasts")).to_contain_text(words["sent"])
        row = page.get_by_test_id("delivery").first  # no reload: the table follows
        expect(row).to_contain_text("webhook.test")
        expect(row.get_by_test_id("delivery-status")).to_have_attribute("class", "badge tone-ok")
        assert _Hook.bodies
        assert _Hook.bodies[0]["type"] == "webhook.test"

        row.get_by_role("button", name=words["view"]).click()
        detail = page.get_by_test_id("delivery-detail")
        expect(detail.get_by_test_id("payload")).to_contain_text('"type": "webhook.test"')
        expect(detail.get_by_test_id("payload")).to_contain_text(hook_id)
        expect(detail.get_by_test_id("attempt")).to_have_count(1)
        expect(detail.get_by_test_id("response")).to_contain_text("yes, thanks")
        page.screenshot(path=f"/tmp/panel-shots/webhook-delivery-{language}-1280.png")
    finally:
        ctx.close()
