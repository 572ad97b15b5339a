"""What survives a restart of the gateway, and what stays in memory only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simkit import CUSTOMER, PHONE, Sim, build

from zapgate.domain.messages import MessageType
from zapgate.domain.phones import user_jid
from zapgate.engines.base import OutgoingMessage, SessionSpec, new_wa_message_id
from zapgate.engines.events import Connected, LoggedOut
from zapgate.engines.simulator import SimulatorEngine
from zapgate.util.clock import ManualClock


async def test_linked_device_resumes_after_restart_without_a_scan(sim: Sim) -> None:
    jid = await sim.link()
    state = json.loads((sim.data_dir / "simulator" / "state.json").read_text())  # type: ignore[operator]
    assert state["accounts"]["s1"]["phone"] == PHONE
    await sim.restart()
    await sim.open(resume=True, jid=jid)
    assert sim.of(Connected)[-1].jid == jid
    assert sim.engine.linked_account("s1") is not None


async def test_no_temp_files_are_left_behind(sim: Sim) -> None:
    await sim.link()
    await sim.engine.set_on_whatsapp(CUSTOMER, False)
    root = sim.data_dir / "simulator"  # type: ignore[operator]
    assert sorted(p.name for p in root.iterdir()) == ["media", "state.json"]


async def test_on_whatsapp_overrides_groups_and_bans_persist(sim: Sim) -> None:
    jid = await sim.link()
    await sim.engine.set_on_whatsapp(CUSTOMER, False)
    await sim.engine.incoming("s1", from_phone="5511977770003", text="x", group="Club")
    await sim.engine.ban("s1", 100)
    await sim.restart()
    assert not sim.engine.is_on_whatsapp(CUSTOMER)
    await sim.clock.advance(100)
    await sim.open(resume=True, jid=jid)
    assert [g.name for g in await sim.engine.get_groups("s1")] == ["Club"]


async def test_ban_is_still_there_after_restart(sim: Sim) -> None:
    jid = await sim.link()
    await sim.engine.ban("s1", 100)
    await sim.restart()
    await sim.open(resume=True, jid=jid)
    assert sim.kinds()[-1] == "TemporaryBan"


async def test_dedup_survives_a_crashed_gateway(sim: Sim) -> None:
    jid = await sim.link()
    message = OutgoingMessage(new_wa_message_id(), user_jid(CUSTOMER), MessageType.TEXT, "once")
    await sim.engine.send("s1", message)
    # The gateway dies before recording success, restarts and sends the same id again.
    await sim.restart()
    await sim.open(resume=True, jid=jid)
    await sim.engine.send("s1", message)
    [entry] = sim.engine.outbox("s1")
    assert (entry.wa_message_id, entry.attempts) == (message.wa_message_id, 2)


async def test_a_torn_last_outbox_line_is_ignored(sim: Sim) -> None:
    jid = await sim.link()
    message = OutgoingMessage(new_wa_message_id(), user_jid(CUSTOMER), MessageType.TEXT, "ok")
    await sim.engine.send("s1", message)
    await sim.engine.close()
    outbox = sim.data_dir / "simulator" / "outbox.jsonl"  # type: ignore[operator]
    with outbox.open("a") as fh:
        fh.write('{"session_id": "s1", "wa_mess')
    sim.engine = SimulatorEngine(data_dir=sim.data_dir, clock=sim.clock)
    await sim.engine.start(sim.events.append)
    await sim.open(resume=True, jid=jid)
    assert [e.text for e in sim.engine.outbox("s1")] == ["ok"]


async def test_delete_session_forgets_its_outbox_and_device(sim: Sim) -> None:
    await sim.link("s1")
    jid2 = await sim.link("s2", "5511966660004")
    for sid in ("s1", "s2"):
        await sim.engine.send(
            sid, OutgoingMessage(new_wa_message_id(), user_jid(CUSTOMER), MessageType.TEXT, sid)
        )
    await sim.engine.delete_session("s1")
    assert sim.engine.outbox("s1") == []
    await sim.restart()
    assert sim.engine.linked_account("s1") is None
    assert sim.engine.outbox("s1") == []
    assert [e.text for e in sim.engine.outbox("s2")] == ["s2"]
    await sim.open("s2", resume=True, jid=jid2)
    assert sim.kinds("s2")[-1] == "Connected"


async def test_a_new_link_replaces_the_old_device(sim: Sim) -> None:
    old = await sim.link()
    await sim.engine.close_session("s1")
    new = await sim.link()
    assert old != new
    await sim.engine.close_session("s1")
    await sim.open(resume=True, jid=old)
    assert sim.kinds()[-1] == "LoggedOut"


async def test_in_memory_engine_writes_nothing(tmp_path: Path) -> None:
    clock = ManualClock()
    events: list[object] = []
    engine = SimulatorEngine(data_dir=None, clock=clock)
    await engine.start(events.append)
    await engine.open_session(SessionSpec("s1", "org", resume=False))
    await clock.advance(0)
    account = await engine.scan("s1", PHONE)
    await clock.advance(5)
    await engine.close()
    assert list(tmp_path.iterdir()) == []
    again = SimulatorEngine(data_dir=None, clock=clock)
    await again.start(events.append)
    await again.open_session(SessionSpec("s1", "org", resume=True, jid=account.jid))
    await clock.advance(0)
    assert isinstance(events[-1], LoggedOut)
    await again.close()


async def test_an_unknown_state_version_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "simulator"
    root.mkdir()
    (root / "state.json").write_text('{"version": 99}')
    with pytest.raises(ValueError, match="version"):
        build(tmp_path, ManualClock())
