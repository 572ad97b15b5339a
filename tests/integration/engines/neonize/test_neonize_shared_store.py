"""whatsmeow's device store shared in PostgreSQL: a device one node's worker stored is
resumed by another node's worker, as the same device (cluster mode, docs/cluster.md).

Real neonize, real PostgreSQL (a database made for the test), real worker processes;
WhatsApp is not reachable, so every session dials a silent proxy (accepts, never
answers) and stays alive in its dial. What cannot happen offline is pairing: WhatsApp's
server and a phone produce the account's signatures. So the device row is written here
exactly as whatsmeow's ``PutDevice`` writes it at pair success (the same columns, key
material of the right sizes), into the tables node a's worker created.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.integration.cluster.nodes import empty_pg_database
from tests.integration.engines.neonize.silent import SilentProxy
from zapgate.engines import base
from zapgate.engines.events import EngineEvent, LoggedOut
from zapgate.engines.neonize.engine import NeonizeEngine
from zapgate.util.clock import SystemClock

pytestmark = pytest.mark.slow

JID = "5511999990001:12@s.whatsapp.net"
LID = "123456789012345:12@lid"
NEIGHBOUR = ("5511999990003:4@s.whatsapp.net", "123456789099999:4@lid", "Padaria")
"""Another connection's device in the same store, saved first: whatsmeow's "first
device" fallback would pick it, so resuming by JID is what the test sees."""
ROOT = Path(__file__).resolve().parents[4]


async def until(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    return {r["table_name"] for r in rows}


async def _devices(url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        rows = await conn.fetch("SELECT * FROM whatsmeow_device ORDER BY jid")
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def _store_paired_device(url: str, jid: str, lid: str, push_name: str) -> None:
    """What whatsmeow's pair success saves (``sqlstore.PutDevice``, same statement).

    The private keys (noise, identity, signed pre-key) are the 32 random bytes whatsmeow
    itself generates (``keys.NewKeyPair``; the public halves are derived when loaded);
    the ADV identity's signatures come from the phone's account key and cannot be made
    offline: whatsmeow does not check them when it loads a device.
    """
    from neonize.proto.waAdv.WAAdv_pb2 import ADVDeviceIdentity

    details = ADVDeviceIdentity(rawID=1234567, timestamp=1767225600, keyIndex=1)
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(
            """
            INSERT INTO whatsmeow_device (jid, lid, registration_id, noise_key, identity_key,
                signed_pre_key, signed_pre_key_id, signed_pre_key_sig,
                adv_key, adv_details, adv_account_sig, adv_account_sig_key, adv_device_sig,
                platform, business_name, push_name, facebook_uuid, lid_migration_ts,
                companion_meta_nonce)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                $17, $18, $19)
            """,
            jid,
            lid,
            int.from_bytes(os.urandom(4)) >> 1,
            os.urandom(32),
            os.urandom(32),
            os.urandom(32),
            1,
            os.urandom(64),
            os.urandom(32),
            details.SerializeToString(),
            os.urandom(64),
            os.urandom(32),
            os.urandom(64),
            "android",
            "",
            push_name,
            None,
            0,
            "",
        )
    finally:
        await conn.close()


def _probe(tmp_path: Path, url: str, jid: str) -> dict[str, Any]:
    """Ask a second worker process what the library loaded (``device_probe.py``)."""
    result = tmp_path / "probe.json"
    env = dict(os.environ)
    # Absolute: the probe runs elsewhere, and must import the code under test.
    inherited = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *inherited])
    module = "tests.integration.engines.neonize.device_probe"
    done = subprocess.run(
        [sys.executable, "-m", module, str(result), url, jid],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    answer: dict[str, Any] = json.loads(result.read_text())
    return answer


def _engine(data_dir: Path, url: str, proxy: SilentProxy) -> NeonizeEngine:
    return NeonizeEngine(
        data_dir=data_dir,
        database_url=url,
        clock=SystemClock(),
        proxy=proxy.url,
        warm_spare=False,
        stop_timeout=1.0,
    )


async def test_a_device_stored_by_one_node_is_resumed_by_another(tmp_path: Path) -> None:
    async with empty_pg_database() as url:
        assert not {t for t in await _tables(url) if t.startswith("whatsmeow_")}

        # Node a: a new link. Its worker creates whatsmeow's tables in the shared database.
        proxy_a = SilentProxy()
        a_events: list[EngineEvent] = []
        node_a = _engine(tmp_path / "node-a", url, proxy_a)
        await node_a.start(a_events.append)
        try:
            await node_a.open_session(base.SessionSpec("conn", "org", resume=False))
            await until(lambda: proxy_a.accepted, "node a's session dialing")
            assert {"whatsmeow_device", "whatsmeow_identity_keys", "whatsmeow_sessions"} <= (
                await _tables(url)
            )
            assert await _devices(url) == []  # no row before WhatsApp confirms the pairing
        finally:
            await node_a.close()
            proxy_a.close()
        assert a_events == []

        # Phones scan: pair success stores each device (see _store_paired_device).
        await _store_paired_device(url, *NEIGHBOUR)
        await _store_paired_device(url, JID, LID, "Barbearia")
        stored = await _devices(url)
        assert len(stored) == 2

        # Node b, its own data directory (nothing shared but the database), resumes it.
        proxy_b = SilentProxy()
        b_events: list[EngineEvent] = []
        node_b = _engine(tmp_path / "node-b", url, proxy_b)
        await node_b.start(b_events.append)
        try:
            await node_b.open_session(base.SessionSpec("conn", "org", resume=True, jid=JID))
            other = "5511999990002:12@s.whatsapp.net"
            await node_b.open_session(base.SessionSpec("other", "org", resume=True, jid=other))
            await until(lambda: proxy_b.accepted, "node b's session dialing")
            await until(lambda: b_events, "the unknown device's answer")
            worker = node_b.worker_of("conn")
            assert worker is not None
            assert worker.alive  # a JID its store lacked would have been a Go panic
        finally:
            await node_b.close()
            proxy_b.close()
        # The device in the store is resumed; one that is not there is logged out, so the
        # lookup really was against the shared store (node b never saw node a's files).
        (missing,) = b_events
        assert isinstance(missing, LoggedOut)
        assert missing.session_id == "other"
        assert "not in the engine's credential store" in missing.reason
        assert not (tmp_path / "node-b" / "neonize" / "conn.sqlite3").exists()

        # What node b's library loaded: the stored device itself (whatsmeow's Store.ID,
        # set only from a stored row), where a new link has none.
        probe = _probe(tmp_path, url, JID)
        assert probe["dialed"] == 2, probe
        assert probe["resumed"] == {
            "jid": JID,
            "lid": LID,
            "push_name": "Barbearia",
            "platform": "android",
        }
        assert probe["new"]["jid"] == ""
        assert probe["events"] == []  # no QR, no logout, no failure

        # Resumed, not re-created: the same devices, keys and registration ids untouched.
        assert await _devices(url) == stored

        # Deleted while no node runs it (its account named without a device number, as
        # a connection row may): its keys leave the shared store; the neighbour's stay.
        proxy_c = SilentProxy()
        node_c = _engine(tmp_path / "node-c", url, proxy_c)
        try:
            await node_c.delete_session("conn", jid="5511999990001@s.whatsapp.net")
            assert [d["jid"] for d in await _devices(url)] == [NEIGHBOUR[0]]
            await node_c.logout("neighbour", jid=NEIGHBOUR[0])
            assert await _devices(url) == []
            # One number linked twice (two connections): a JID without a device number
            # cannot say whose device it is, so it forgets neither; a full one does.
            await _store_paired_device(url, "5511999990007:3@s.whatsapp.net", "7:3@lid", "A")
            await _store_paired_device(url, "5511999990007:4@s.whatsapp.net", "7:4@lid", "B")
            await node_c.delete_session("one", jid="5511999990007@s.whatsapp.net")
            assert len(await _devices(url)) == 2
            await node_c.delete_session("one", jid="5511999990007:3@s.whatsapp.net")
            assert [d["jid"] for d in await _devices(url)] == ["5511999990007:4@s.whatsapp.net"]
        finally:
            proxy_c.close()
