"""The server goes away and comes back: a banner and faded cards while it is gone, one
toast at most, all cleared on recovery; connection actions confirm with a toast; the
theme toggle cycles light, dark and the system's, and is remembered."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import ADMIN, TIMEOUT_MS, LiveServer, sign_in
from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.server import PanelServer

pytestmark = pytest.mark.browser
WORDS = {
    "pt-BR": {
        "primary": "agora é a conexão principal",
        "make_primary": "Tornar principal",
        "back": "Conexão com o servidor restabelecida.",
    },
    "en": {
        "primary": "is now the primary connection",
        "make_primary": "Make primary",
        "back": "Connection to the server is back.",
    },
}


class _Server:
    """A panel server on a fixed port that can stop and start again (same data)."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings, self.port = settings, port
        self.server: PanelServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import uvicorn

        app = create_app(self.settings)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, timeout_graceful_shutdown=5
        )
        self.server = PanelServer(config, app)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive(), "the server did not start"
            assert time.monotonic() < deadline
            time.sleep(0.05)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=30)
            self.server = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_outage_banner_action_toasts_and_theme(
    browser: Browser, tmp_path: Path, language: str
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        engine="simulator",
        admin_email=ADMIN[0],
        admin_password=ADMIN[1],
        admin_org="Barbearia Modelo",
        secret_key="e" * 40,
        log_level="WARNING",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )
    server = _Server(settings, _free_port())
    server.start()
    words = WORDS[language]
    ctx = browser.new_context(locale=language, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        live = LiveServer(url=server.url, settings=settings)
        with live.api() as api:
            for name in ("Recepção", "Vendas"):
                assert api.post("/connections", json={"name": name}).status_code == 201
        sign_in(page, live)
        expect(page.locator("body")).to_have_attribute("data-live-state", "on")

        # A connection action confirms itself.
        second = page.locator("article.card").filter(has_text="Vendas")
        second.get_by_role("button", name=words["make_primary"]).click()
        expect(page.locator("#toasts")).to_contain_text(words["primary"])

        # The server goes away: banner, faded cards.
        server.stop()
        banner = page.get_by_test_id("offline-banner")
        # The stream's error starts a 3 s grace; a reconnection attempt every 2 s renews it.
        expect(banner).to_be_visible(timeout=10_000)
        expect(page.locator("body")).to_have_attribute("data-server", "down")
        card = page.locator("article.card").first
        assert "grayscale" in card.evaluate("e => getComputedStyle(e).filter")
        page.screenshot(path=f"/tmp/panel-shots/offline-banner-{language}-1280.png")
        # A click meanwhile: one toast, that stays until the server is back.
        for _ in range(2):
            card.locator("button.primary").first.click()  # Connect: the request cannot go
        expect(page.locator(".toast[data-offline]")).to_have_count(1)

        server.start()
        expect(banner).to_be_hidden(timeout=30_000)
        expect(page.locator("body")).not_to_have_attribute("data-server", "down")
        expect(page.locator(".toast[data-offline]")).to_have_count(0)
        expect(page.locator("#toasts")).to_contain_text(words["back"])
        assert "grayscale" not in card.evaluate("e => getComputedStyle(e).filter")

        # Theme: system → light → dark, remembered across pages; then system again.
        toggle = page.get_by_test_id("theme-toggle")
        html = page.locator("html")
        toggle.click()
        expect(html).to_have_attribute("data-theme", "light")
        toggle.click()
        expect(html).to_have_attribute("data-theme", "dark")
        page.reload()
        expect(html).to_have_attribute("data-theme", "dark")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 20, 18)", background
        page.screenshot(path=f"/tmp/panel-shots/dashboard-dark-toggle-{language}-1280.png")
        page.get_by_test_id("theme-toggle").click()
        expect(html).not_to_have_attribute("data-theme", "dark")
        expect(html).not_to_have_attribute("data-theme", "light")
    finally:
        ctx.close()
        server.stop()
