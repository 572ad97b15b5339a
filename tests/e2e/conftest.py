"""Browser tests: a real uvicorn server (simulator engine, real clock) and Debian's chromium."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Playwright, sync_playwright

from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.server import PanelServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ADMIN = ("owner@example.com", "owner-password-1")
# Generous for a busy 2-core machine; every wait is bounded.
TIMEOUT_MS = 20_000


@dataclass
class LiveServer:
    url: str
    settings: Settings

    @contextmanager
    def api(self, email: str = ADMIN[0], password: str = ADMIN[1]) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.url + "/api/v1", timeout=20) as client:
            token = client.post("/auth/login", json={"email": email, "password": password})
            assert token.status_code == 200, token.text
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield client


def _serve(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, timeout_graceful_shutdown=5
    )
    server = PanelServer(config, app)
    thread = threading.Thread(target=server.run, name="zapgate-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    started: list[Iterator[LiveServer]] = []

    def start(**overrides: Any) -> LiveServer:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"data{len(started)}",
            "engine": "simulator",
            "admin_email": ADMIN[0],
            "admin_password": ADMIN[1],
            "admin_org": "Barbearia Modelo",
            "secret_key": "e" * 40,
            "log_level": "WARNING",
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
        }
        values.update(overrides)
        gen = _serve(Settings(_env_file=None, **values))
        started.append(gen)
        return next(gen)

    yield start
    for gen in reversed(started):
        for _ in gen:
            pass


@pytest.fixture
def live(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory()


# Per test, not per session: Playwright's sync API keeps an event loop running on the
# main thread while it is open, which would break the asyncio tests that run after.
@pytest.fixture
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="pt-BR", viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def dialogs() -> list[str]:
    """Every dialog the page opened: an alert() means a script ran that should not have."""
    return []


@pytest.fixture
def page(context: BrowserContext, dialogs: list[str]) -> Page:
    page = context.new_page()

    def handle(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}:{dialog.message}")
        dialog.accept()  # confirms are the panel's own (delete, unlink)

    page.on("dialog", handle)
    return page


def sign_in(page: Page, live: LiveServer, email: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    page.goto(live.url + "/app/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/app")


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_state(api: httpx.Client, cid: str, state: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = api.get(f"/connections/{cid}/status").json()["state"]
        if last == state:
            return
        time.sleep(0.1)
    raise AssertionError(f"connection {cid} stayed {last}, wanted {state}")


def linked_connection(api: httpx.Client, name: str, phone: str) -> str:
    cid = str(api.post("/connections", json={"name": name}).json()["id"])
    assert api.post(f"/connections/{cid}/start").status_code == 202
    wait_state(api, cid, "qr_ready")
    scan = api.post(f"/simulator/connections/{cid}/scan", json={"phone": phone})
    assert scan.status_code == 204, scan.text
    wait_state(api, cid, "ready")
    return cid
