"""Stickers end to end on the simulator: a WebP goes as it is; a PNG, JPEG or GIF is
converted to a 512x512 WebP by ffmpeg; anything else is refused; incoming ones stored."""

from __future__ import annotations

import base64
import shutil
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import (
    CUSTOMER,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from tests.unit.netkit import LoopbackServer, fixed
from zapgate.config import Settings
from zapgate.util.clock import ManualClock

GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
WEBP = b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0/\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(max_media_bytes=4 * 1024 * 1024, media_fetch_allow_private=True)


@pytest.fixture
async def gif_server() -> AsyncIterator[LoopbackServer]:
    """Serves a GIF (a real one, 1x1) at any path."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\nContent-Length: {len(GIF)}\r\n\r\n"
    server = await LoopbackServer(fixed(head.encode() + GIF)).start("127.0.0.1")
    yield server
    await server.stop()


def png(width: int, height: int) -> bytes:
    """A red RGB PNG, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + b"\xff\0\0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def webp_size(data: bytes) -> tuple[int, int]:
    """Width and height of a WebP as ffmpeg writes one: extended (VP8X, with the alpha
    of the padding) or, for a picture that fills the square, plain lossy (VP8)."""
    assert (data[:4], data[8:12]) == (b"RIFF", b"WEBP"), data[:16]
    if data[12:16] == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    assert (data[12:16], data[23:26]) == (b"VP8 ", b"\x9d\x01\x2a"), data[12:30]
    width = int.from_bytes(data[26:28], "little") & 0x3FFF
    height = int.from_bytes(data[28:30], "little") & 0x3FFF
    return width, height


async def download(server: Server, headers: dict[str, str], media_id: str) -> bytes:
    response = await server.http.get(f"{API}/media/{media_id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/webp")
    return response.content


@needs_ffmpeg
async def test_a_png_becomes_a_512_webp_sticker_and_is_sent(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    body = {
        "to": CUSTOMER,
        "type": "sticker",
        "media": {"base64": base64.b64encode(png(300, 120)).decode()},
    }
    sent = await send(server.http, admin, body)
    assert sent["type"] == "sticker"
    assert sent["media"]["mimetype"] == "image/webp"
    data = await download(server, admin, sent["media"]["media_id"])
    assert webp_size(data) == (512, 512)
    await wait_status(server, admin, clock, sent["id"], "sent", "delivered", "read")
    on_network = simulator(server).outbox(cid)[-1]
    assert (on_network.type, on_network.media and on_network.media["mimetype"]) == (
        "sticker",
        "image/webp",
    )

    # An upload sent by media_id is converted the same way.
    upload = await server.http.post(
        f"{API}/media", headers=admin, files={"file": ("logo.png", png(40, 40), "image/png")}
    )
    assert upload.status_code == 201, upload.text
    by_id = await send(
        server.http,
        admin,
        {"to": CUSTOMER, "type": "sticker", "media": {"media_id": upload.json()["id"]}},
    )
    assert by_id["media"]["filename"] == "logo.webp"
    assert webp_size(await download(server, admin, by_id["media"]["media_id"])) == (512, 512)


@needs_ffmpeg
async def test_a_gif_at_a_url_becomes_a_webp_sticker(
    server: Server, admin: dict[str, str], clock: ManualClock, gif_server: LoopbackServer
) -> None:
    await ready_connection(server, admin, clock)
    url = f"http://127.0.0.1:{gif_server.port}/party.gif"
    sent = await send(
        server.http, admin, {"to": CUSTOMER, "type": "sticker", "media": {"url": url}}
    )
    assert (sent["media"]["mimetype"], sent["media"]["filename"]) == ("image/webp", "party.webp")
    assert webp_size(await download(server, admin, sent["media"]["media_id"])) == (512, 512)


async def test_a_webp_goes_as_it_is_and_other_files_are_refused(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    await ready_connection(server, admin, clock)
    sent = await send(
        server.http,
        admin,
        {
            "to": CUSTOMER,
            "type": "sticker",
            "media": {"base64": base64.b64encode(WEBP).decode(), "mimetype": "image/webp"},
        },
    )
    assert await download(server, admin, sent["media"]["media_id"]) == WEBP
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"base64": base64.b64encode(b"%PDF-1.7 not a picture").decode()}, 422, "invalid_sticker"),
        (
            {"base64": base64.b64encode(b"not a webp at all").decode(), "mimetype": "image/webp"},
            422,
            "invalid_sticker",
        ),
    ]
    big = await server.http.post(
        f"{API}/media",
        headers=admin,
        files={"file": ("big.webp", b"RIFF\0\0\0\0WEBP" + b"\0" * (1024 * 1024), "image/webp")},
    )
    assert big.status_code == 201, big.text
    # WhatsApp's limit for a sticker is 1 MiB.
    cases.append(({"media_id": big.json()["id"]}, 413, "media_too_large"))
    if shutil.which("ffmpeg"):
        # A file that says PNG but is not one: ffmpeg fails, the request gets a 422.
        cases.append(
            (
                {"base64": base64.b64encode(b"\x89PNG\r\n\x1a\nbroken").decode()},
                422,
                "invalid_sticker",
            )
        )
    for media, status, code in cases:
        response = await server.http.post(
            f"{API}/messages",
            headers=admin,
            json={"to": CUSTOMER, "type": "sticker", "media": media},
        )
        assert response.status_code == status, (media, response.text)
        assert response.json()["error"]["code"] == code, (media, response.text)


async def test_an_incoming_sticker_is_stored_as_media(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=admin,
        json={
            "from": CUSTOMER,
            "type": "sticker",
            "media": {"base64": base64.b64encode(WEBP).decode(), "mimetype": "image/webp"},
        },
    )
    assert response.status_code == 200, response.text
    wa_id = response.json()["wa_message_id"]

    async def stored() -> dict[str, Any] | None:
        chats = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
        if not chats:
            return None
        page = await server.http.get(f"{API}/chats/{chats[0]['id']}/messages", headers=admin)
        return next((m for m in page.json()["items"] if m["wa_message_id"] == wa_id), None)

    async def arrived() -> bool:
        found = await stored()
        return found is not None and found["media"]["media_id"] is not None

    await eventually(arrived, what="incoming sticker stored")
    item = await stored()
    assert item is not None
    assert item["type"] == "sticker"
    assert await download(server, admin, item["media"]["media_id"]) == WEBP
