"""Media types are checked where they enter (our user: 422; WhatsApp or a remote server:
replaced by what the bytes are), and whatever a row holds is served in safe headers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API, create_connection
from tests.integration.messaging.kit import CUSTOMER, ready_connection
from tests.integration.web.panel import Panel
from tests.unit.netkit import LoopbackServer, fixed
from zapgate.config import Settings
from zapgate.store.tables.messages import MediaRow
from zapgate.util.clock import ManualClock

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
BAD_TYPES = [
    "image/png\x01",
    "image/png\r\nSet-Cookie: session=stolen",
    "image/png\n; x=1",
    "image/✓",
    "image",
    "text/plain; charset",
    'text/plain; name="unterminated',
]


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(media_fetch_allow_private=True)


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


def assert_safe_headers(response: httpx.Response) -> None:
    """Every header value is printable ASCII: nothing a proxy or browser could misread."""
    for name, value in response.headers.raw:
        assert all(0x20 <= byte <= 0x7E or byte == 0x09 for byte in value), (name, value)


async def test_an_invalid_type_from_our_user_is_422(server: Server, admin: dict[str, str]) -> None:
    http = server.http
    await create_connection(http, admin)
    for bad in BAD_TYPES:
        upload = await http.post(
            f"{API}/media",
            headers=admin,
            files={"file": ("photo.png", PNG, "application/octet-stream")},
            data={"mimetype": bad},
        )
        assert upload.status_code == 422, (bad, upload.text)
        assert upload.json()["error"]["code"] == "invalid_mimetype", bad
        data_url = f"data:{bad};base64,{base64.b64encode(PNG).decode()}"
        for media in (
            {"base64": base64.b64encode(PNG).decode(), "mimetype": bad},
            {"base64": data_url},
        ):
            sent = await http.post(
                f"{API}/messages",
                headers=admin,
                json={"to": CUSTOMER, "type": "image", "media": media},
            )
            assert sent.status_code == 422, (media, sent.text)
            assert sent.json()["error"]["code"] == "invalid_mimetype", media
    # The file part's own Content-Type is the user's word too.
    part = await http.post(
        f"{API}/media", headers=admin, files={"file": ("a.png", PNG, "image/png; q")}
    )
    assert part.status_code == 422, part.text
    assert part.json()["error"]["code"] == "invalid_mimetype"


async def test_a_valid_type_is_kept_canonical(server: Server, admin: dict[str, str]) -> None:
    http = server.http
    upload = await http.post(
        f"{API}/media",
        headers=admin,
        files={"file": ("nota.txt", b"ol\xc3\xa1", "application/octet-stream")},
        data={"mimetype": " Text/Plain ; Charset=UTF-8 "},
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["mimetype"] == "text/plain; charset=UTF-8"
    download = await http.get(f"{API}/media/{upload.json()['id']}", headers=admin)
    assert download.headers["content-type"] == "text/plain; charset=UTF-8"


@pytest.fixture
async def odd_server() -> AsyncIterator[LoopbackServer]:
    """Answers with a picture whose Content-Type is not a media type."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: image/\xe2\x9c\x93\r\n"
        + f"Content-Length: {len(PNG)}\r\n\r\n".encode()
    )
    server = await LoopbackServer(fixed(head + PNG)).start("127.0.0.1")
    yield server
    await server.stop()


async def test_a_fetched_files_invalid_type_is_replaced_by_what_it_is(
    server: Server, admin: dict[str, str], odd_server: LoopbackServer
) -> None:
    await create_connection(server.http, admin)
    sent = await server.http.post(
        f"{API}/messages",
        headers=admin,
        json={
            "to": CUSTOMER,
            "type": "image",
            "media": {"url": f"http://127.0.0.1:{odd_server.port}/pic"},
        },
    )
    assert sent.status_code == 202, sent.text
    message = (await server.http.get(f"{API}/messages/{sent.json()['id']}", headers=admin)).json()
    assert message["media"]["mimetype"] == "image/png"


async def _stored_media(server: Server, headers: dict[str, str]) -> list[dict[str, Any]]:
    chats = (await server.http.get(f"{API}/chats", headers=headers)).json()["items"]
    found: list[dict[str, Any]] = []
    for chat in chats:
        page = await server.http.get(f"{API}/chats/{chat['id']}/messages", headers=headers)
        found.extend(m["media"] for m in page.json()["items"] if m["media"])
    return found


async def test_an_incoming_invalid_type_is_replaced_by_what_the_file_is(
    server: Server, admin: dict[str, str], clock: ManualClock, panel: Panel
) -> None:
    cid = await ready_connection(server, admin, clock)
    files = [
        (PNG, "image/png\r\nSet-Cookie: session=stolen", "image/png"),
        (b"%PDF-1.7 ...", "application/\x07pdf", "application/pdf"),
        (b"\x00\x01 unknown bytes", "what/ever\x7f", "application/octet-stream"),
    ]
    for data, mimetype, _ in files:
        sent = await server.http.post(
            f"{API}/simulator/connections/{cid}/incoming",
            headers=admin,
            json={
                "from": CUSTOMER,
                "type": "document",
                "media": {
                    "base64": base64.b64encode(data).decode(),
                    "mimetype": mimetype,
                    "filename": "notas\u202e.bin\r\n",
                },
            },
        )
        assert sent.status_code == 200, sent.text

    async def all_stored() -> bool:
        return len(await _stored_media(server, admin)) == len(files)

    await eventually(all_stored, what="the incoming files stored")
    by_sha = {m["sha256"]: m for m in await _stored_media(server, admin)}
    for data, _, expected in files:
        media = by_sha[hashlib.sha256(data).hexdigest()]
        assert media["mimetype"] == expected
        assert media["filename"] == "notas.bin"
        api = await server.http.get(f"{API}/media/{media['media_id']}", headers=admin)
        assert api.status_code == 200
        assert api.headers["content-type"] == expected
        assert api.content == data
        assert_safe_headers(api)
        page = await panel.get(f"/app/media/{media['media_id']}")
        assert page.status_code == 200
        assert page.content == data
        assert_safe_headers(page)


async def test_stored_invalid_types_and_names_are_served_safely(
    server: Server, admin: dict[str, str], panel: Panel
) -> None:
    """Rows written before types were checked may hold anything: never put in a header raw."""
    me = (await server.http.get(f"{API}/me", headers=admin)).json()
    media = server.runtime.messaging.media
    rows = [
        ("image/png\x01", 'evil"\r\nX-Injected: 1;.png'),
        ("image/✓", "orçamento final.pdf"),
        ("text/html\r\nSet-Cookie: a=b", "\u202egnp.html"),
    ]
    ids = []
    for mimetype, filename in rows:
        stored = await media.store.save(PNG)
        row = MediaRow(
            id=stored.id,
            organization_id=me["organization"]["id"],
            sha256=stored.sha256,
            mimetype=mimetype,
            filename=filename,
            size=stored.size,
            path=stored.path,
            created_at=server.runtime.clock.now(),
        )
        async with server.runtime.db.write() as s:
            s.add(row)
        ids.append(stored.id)
    for media_id in ids:
        api = await server.http.get(f"{API}/media/{media_id}", headers=admin)
        assert api.status_code == 200, api.text
        assert api.headers["content-type"] == "application/octet-stream"
        assert api.content == PNG
        assert_safe_headers(api)
        assert "x-injected" not in api.headers
        assert "set-cookie" not in api.headers
        for path in (f"/app/media/{media_id}", f"/app/media/{media_id}?download=true"):
            page = await panel.get(path)
            assert page.status_code == 200, page.text
            assert page.headers["content-type"] == "application/octet-stream"
            assert page.headers["content-disposition"].startswith("attachment; ")
            assert_safe_headers(page)
    named = await server.http.get(f"{API}/media/{ids[1]}", headers=admin)
    assert named.headers["content-disposition"] == (
        "inline; filename=\"or_amento final.pdf\"; filename*=UTF-8''or%C3%A7amento%20final.pdf"
    )
