"""A connection's proxy at rest: sealed whole, shown masked, opened only with the key;
a proxy that does not open never lets the session dial without it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import eventually
from tests.unit.sessions.kit import BACKOFF, add_connection, load, simulator, until
from zapgate.domain.states import ConnectionState
from zapgate.services.payloads import connection_status_payload
from zapgate.sessions.proxies import UNREADABLE, open_proxy, store_proxy
from zapgate.sessions.recorder import ConnectionRecorder
from zapgate.sessions.runner import Runner
from zapgate.sessions.traffic import behaviour_of
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import ManualClock
from zapgate.util.secretbox import SecretBox
from zapgate.util.tasks import TaskOwner

URL = "socks5://joao:s3cr3t@proxy.example:1080"
KEY = "k" * 40
FLAGS = ("reject_calls", "always_online", "auto_read", "ignore_groups", "ignore_status")


def make_row(connection_id: str, **columns: object) -> ConnectionRow:
    return ConnectionRow(
        id=connection_id, sync_history="recent", **dict.fromkeys(FLAGS, False), **columns
    )


def test_stored_masked_and_sealed_and_opened_whole() -> None:
    row = make_row("c1")
    store_proxy(row, URL, SecretBox(KEY))
    assert row.proxy_url == "socks5://joao:***@proxy.example:1080"
    assert row.proxy_secret is not None
    assert "s3cr3t" not in row.proxy_secret
    assert open_proxy(row, SecretBox(KEY)).url == URL
    assert behaviour_of(row, SecretBox(KEY)).proxy_url == URL


def test_another_rows_or_another_keys_seal_does_not_open() -> None:
    row = make_row("c1")
    store_proxy(row, URL, SecretBox(KEY))
    other = make_row("c2", proxy_url=row.proxy_url, proxy_secret=row.proxy_secret)
    assert open_proxy(other, SecretBox(KEY)).problem == UNREADABLE
    moved = open_proxy(row, SecretBox("z" * 40))
    assert (moved.url, moved.problem) == (None, UNREADABLE)
    behaviour = behaviour_of(row, None)
    assert (behaviour.proxy_url, behaviour.proxy_problem) == (None, UNREADABLE)


def test_cleared_and_legacy_rows() -> None:
    row = make_row("c1")
    store_proxy(row, URL, SecretBox(KEY))
    store_proxy(row, None, SecretBox(KEY))
    assert (row.proxy_url, row.proxy_secret) == (None, None)
    legacy = make_row("c3", proxy_url=URL, proxy_secret=None)
    assert open_proxy(legacy, SecretBox(KEY)).url == URL


async def test_a_proxy_that_does_not_decrypt_fails_the_connection_without_dialing(
    db: Database, clock: ManualClock, org_id: str, tmp_path: Path
) -> None:
    sealed = make_row("x")
    row = await add_connection(db, clock, org_id)
    sealed.id = row.id
    store_proxy(sealed, URL, SecretBox("another key, another server" * 2))
    row.proxy_url, row.proxy_secret = sealed.proxy_url, sealed.proxy_secret
    engine = simulator(tmp_path, clock)
    owner = TaskOwner("test")
    recorder = ConnectionRecorder(db, clock, connection_status_payload)
    await engine.start(lambda event: None)
    runner = Runner(
        row,
        engine=engine,
        recorder=recorder,
        clock=clock,
        backoff=BACKOFF,
        owner=owner,
        listeners=[],
        box=SecretBox(KEY),
    )
    try:
        await runner.start()
        await until(lambda: runner.state is ConnectionState.ERROR, "the error state")
        assert engine.phase(row.id) is None  # never dialed

        async def recorded() -> bool:
            return (await load(db, row.id)).error_code == "proxy_unreadable"

        await eventually(recorded, what="the error recorded")
        stored = await load(db, row.id)
        assert stored.error_message == UNREADABLE
    finally:
        await runner.close()
        await owner.cancel_all()
        await recorder.close()
        await engine.close()
