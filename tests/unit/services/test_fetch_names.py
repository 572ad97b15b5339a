"""The file name a media.url fetch derives from the URL holds no NUL character."""

from __future__ import annotations

from tests.unit.netkit import LoopbackServer, ScriptedDns, fixed
from zapgate.services.fetch import MediaFetcher

OK = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\npng!"


async def test_a_nul_in_the_urls_file_name_is_removed() -> None:
    # "%00" is a valid URL; the name it decodes to would be stored with the media, and
    # PostgreSQL cannot store a NUL.
    server = await LoopbackServer(fixed(OK)).start()
    try:
        dns = ScriptedDns({"media.test": [["127.0.0.1"], ["127.0.0.1"]]})
        fetcher = MediaFetcher(timeout=5, allow_private=True, resolver=dns)
        url = f"http://media.test:{server.port}/files"
        named = await fetcher.fetch(f"{url}/ph%00oto.png", max_bytes=100)
        assert (named.data, named.filename) == (b"png!", "photo.png")
        nameless = await fetcher.fetch(f"{url}/%00", max_bytes=100)
        assert nameless.filename is None
    finally:
        await server.stop()
