"""A conversation holding every kind of message the API sends or receives renders each
one: media plays or downloads, a place links to a map, a contact card shows its phone."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, linked_connection, shot, sign_in

pytestmark = pytest.mark.browser

CUSTOMER = "5511981239999"
# A 1x1 PNG, so the browser has a real picture to decode.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
FILES = {
    "image": (PIXEL, "image/png", "foto.png"),
    "sticker": (b"RIFF\0\0\0\0WEBPVP8 " + b"s" * 40, "image/webp", None),
    "video": (b"\0\0\0\x18ftypmp42" + b"v" * 300, "video/mp4", "clip.mp4"),
    "audio": (b"ID3" + b"a" * 100, "audio/mpeg", "musica.mp3"),
    "voice": (b"OggS" + b"o" * 100, "audio/ogg", None),
    "document": (b"%PDF-1.7" + b"d" * 2000, "application/pdf", "orcamento.pdf"),
}


def _incoming(api: httpx.Client, cid: str, **body: Any) -> str:
    sent = api.post(f"/simulator/connections/{cid}/incoming", json={"from": CUSTOMER, **body})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["wa_message_id"])


def _send(api: httpx.Client, **body: Any) -> None:
    sent = api.post("/messages", json={"to": CUSTOMER, **body})
    assert sent.status_code == 202, sent.text


def _conversation(api: httpx.Client, cid: str) -> tuple[str, int]:
    """One message of each kind, in and out; the chat's id and how many it holds."""
    greeting = _incoming(api, cid, text="Bom dia", push_name="Carla")
    for kind, (data, mimetype, filename) in FILES.items():
        media = {"base64": base64.b64encode(data).decode(), "mimetype": mimetype}
        if filename:
            media["filename"] = filename
        caption = {"caption": f"legenda {kind}"} if kind in ("image", "video", "document") else {}
        _incoming(api, cid, type=kind, media=media, **caption)
    _incoming(api, cid, location={"latitude": -23.5613, "longitude": -46.6565, "name": "MASP"})
    _incoming(api, cid, location={"latitude": -22.9519, "longitude": -43.2105})
    _incoming(api, cid, contact={"name": "Bia Souza", "phone": "5511900001111"})
    _incoming(api, cid, reaction={"message_id": greeting, "emoji": "❤"})
    _incoming(api, cid, reaction={"message_id": "3EB0NOTSTORED", "emoji": "🎉"})
    _incoming(api, cid, text="Quero marcar", quoted_id=greeting)
    _send(
        api,
        type="location",
        location={"latitude": -23.55, "longitude": -46.63, "name": "Loja Centro"},
    )
    _send(api, type="contact", contact={"name": "Gerente Rui", "phone": "+55 11 3333-4444"})
    _send(api, type="text", text="Combinado", reply_to=greeting)
    pixel = base64.b64encode(PIXEL).decode()
    _send(api, type="image", media={"base64": pixel, "caption": "nossa vitrine"})
    total = 1 + len(FILES) + 6 + 4
    deadline = time.monotonic() + 30
    while True:
        chats = api.get("/chats").json()["items"]
        if chats:
            page = api.get(f"/chats/{chats[0]['id']}/messages", params={"limit": 100}).json()
            if len(page["items"]) == total:
                return str(chats[0]["id"]), total
        assert time.monotonic() < deadline, "the conversation was not stored in time"
        time.sleep(0.1)


def test_every_message_type_renders(page: Page, live: LiveServer, dialogs: list[str]) -> None:
    with live.api() as api:
        cid = linked_connection(api, "Loja", "5511990005555")
        chat_id, total = _conversation(api, cid)
    sign_in(page, live)
    answer = page.goto(f"{live.url}/app/inbox/{chat_id}")
    assert answer is not None
    assert answer.status == 200
    messages = page.locator("#messages")
    expect(messages).to_be_visible()
    assert "⟦" not in page.content()

    bubbles = page.get_by_test_id("bubble")
    # The reaction to a message on the page is folded into it; the other stands alone.
    expect(bubbles).to_have_count(total - 1)
    greeting = bubbles.filter(has_text="Bom dia").first
    expect(greeting).to_contain_text("❤")

    # Live updates (receipts of the messages sent above) may re-render the list at any
    # time: look the picture up again on every try.
    page.wait_for_function(
        """() => {
            const img = document.querySelector(".bubble.in img[alt='legenda image']");
            if (!img) return false;
            img.scrollIntoView();
            return img.complete && img.naturalWidth === 1;
        }"""
    )
    expect(page.locator(".bubble.in").filter(has_text="legenda image")).to_have_count(1)
    expect(page.locator(".bubble.out img[alt='nossa vitrine']")).to_have_count(1)
    expect(page.locator(".bubble.in img.sticker")).to_have_count(1)
    video = page.locator(".bubble video")
    expect(video).to_have_count(1)
    expect(video).to_have_attribute("src", _media_src())
    expect(page.locator(".bubble").filter(has_text="legenda video")).to_have_count(1)
    expect(page.locator(".bubble audio")).to_have_count(2)
    document = page.get_by_role("link", name="orcamento.pdf")
    expect(document).to_have_attribute("href", _media_src(download=True))
    expect(page.locator(".bubble").filter(has_text="legenda document")).to_have_count(1)

    masp = page.get_by_role("link", name="MASP")
    expect(masp).to_have_attribute("href", _map(-23.5613, -46.6565))
    expect(page.get_by_role("link", name="-22.9519, -43.2105")).to_have_attribute(
        "href", _map(-22.9519, -43.2105)
    )
    expect(page.get_by_role("link", name="Loja Centro")).to_be_visible()
    card = page.locator(".bubble .contact-card").filter(has_text="Bia Souza")
    expect(card.get_by_role("link", name="+55 11 90000-1111")).to_have_attribute(
        "href", "tel:+5511900001111"
    )
    mine = page.locator(".bubble.out .contact-card").filter(has_text="Gerente Rui")
    expect(mine.get_by_role("link", name="+55 11 3333-4444")).to_be_visible()

    lone = bubbles.filter(has_text="🎉")
    expect(lone).to_contain_text("Reação")
    for text in ("Quero marcar", "Combinado"):
        quoted = bubbles.filter(has_text=text).locator(".quote")
        expect(quoted).to_have_text("Bom dia")
    shot(page, "inbox-every-message-type-pt-BR-desktop")
    messages.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    shot(page, "inbox-every-message-type-end-pt-BR-desktop")

    # The document downloads with its name; the picture is served inline.
    with page.expect_download() as download:
        document.click()
    assert download.value.suggested_filename == "orcamento.pdf"
    assert not [d for d in dialogs if d.startswith("alert")], dialogs


def _media_src(*, download: bool = False) -> re.Pattern[str]:
    suffix = r"\?download=true" if download else ""
    return re.compile(rf"^/app/media/[0-9a-f-]{{36}}{suffix}$")


def _map(latitude: float, longitude: float) -> str:
    return (
        f"https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}"
        f"#map=17/{latitude}/{longitude}"
    )
