"""A notification through a listening connection that stopped answering gives up in
bounded time (the lease round or the shutdown's handover that sent it goes on), and the
connection is dropped so that the watch opens a new one."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from tests.conftest import eventually
from tests.integration.exports.brokers import free_port
from zapgate.cluster.wakeups import WakeUps
from zapgate.util.clock import ManualClock


class StallingProxy:
    """Forwards a loopback port to PostgreSQL until ``stall``: from then on it reads
    nothing and writes nothing, but keeps every connection open (a cut network)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def stall(self) -> None:
        self._flowing.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers += [writer, up_writer]
        for pipe in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.create_task(pipe)
            self._tasks.add(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass


async def test_a_notify_through_a_stalled_connection_gives_up_and_listens_again(
    pg_database: str,
) -> None:
    target = urlsplit(pg_database)
    proxy = StallingProxy(target.port or 5432)
    await proxy.start()
    url = pg_database.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}", 1)
    assert url != pg_database
    wakeups = WakeUps(url, ManualClock(), notify_timeout=0.3)
    try:
        await wakeups.start()
        got: list[str] = []
        wakeups.subscribe(got.append)
        await wakeups.notify("leases")

        async def heard() -> bool:
            return bool(got)

        await eventually(heard, what="the notification")
        assert got == ["leases"]  # through the proxy while it flows

        proxy.stall()
        started = time.monotonic()
        await wakeups.notify("leases")
        assert time.monotonic() - started < 3.0  # bounded: 0.3 s, with room for a slow box
        listening = wakeups._conn
        assert listening is None or listening.is_closed()  # the watch opens a new one
    finally:
        await wakeups.close()
        await proxy.close()
