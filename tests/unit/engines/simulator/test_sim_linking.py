"""QR rotation, pairing codes and linking, on a manual clock."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from simkit import PHONE, Sim

from zapgate.domain.errors import Conflict, EngineError, Invalid, SessionNotRunning
from zapgate.engines.events import Connected, LinkTimedOut, Paired, QrIssued
from zapgate.engines.simulator import Phase
from zapgate.engines.simulator.qr import PAIRING_ALPHABET, lid_for


async def test_six_codes_at_0_60_80_100_120_140_then_timeout_at_160(sim: Sim) -> None:
    start = sim.clock.now()
    await sim.open()
    seen: list[tuple[float, int]] = []
    for second in range(0, 170):
        for qr in sim.of(QrIssued):
            offset = (qr.expires_at - start).total_seconds()
            if (offset, qr.index) not in seen:
                seen.append((offset, qr.index))
                assert sim.clock.now() - start == timedelta(seconds=second)
        if second == 159:
            assert sim.of(LinkTimedOut) == []
        await sim.clock.advance(1)
        if second == 159:
            assert sim.of(LinkTimedOut) == [LinkTimedOut("s1", "qr_timeout")]

    issued = sim.of(QrIssued)
    assert [q.index for q in issued] == [1, 2, 3, 4, 5, 6]
    assert {q.total for q in issued} == {6}
    # Each code expires when the next one appears: 60 s for the first, 20 s after that.
    assert [(q.expires_at - start).total_seconds() for q in issued] == [60, 80, 100, 120, 140, 160]
    assert sim.kinds()[-1] == "LinkTimedOut"
    assert sim.engine.phase("s1") is None
    with pytest.raises(Conflict) as caught:
        await sim.engine.scan("s1", PHONE)
    assert caught.value.code == "qr_not_pending"


async def test_issue_times_are_exact(sim: Sim) -> None:
    await sim.open()
    times = [0.0]
    for target in (60, 80, 100, 120, 140):
        await sim.clock.advance(target - times[-1] - 0.001)
        assert len(sim.of(QrIssued)) == len(times)
        await sim.clock.advance(0.001)
        assert len(sim.of(QrIssued)) == len(times) + 1
        times.append(target)
    await sim.clock.advance(19.999)
    assert sim.of(LinkTimedOut) == []
    await sim.clock.advance(0.001)
    assert len(sim.of(LinkTimedOut)) == 1


async def test_qr_code_looks_like_whatsmeow(sim: Sim) -> None:
    await sim.open()
    code = sim.of(QrIssued)[0].code
    ref, noise, identity, adv = code.split(",")
    assert ref.startswith("2@")
    for part in (noise, identity, adv):
        assert len(base64.b64decode(part, validate=True)) == 32
    assert sim.engine.current_qr("s1") is not None
    assert sim.engine.current_qr("s1").code == code  # type: ignore[union-attr]


async def test_codes_are_all_different(sim: Sim) -> None:
    await sim.open()
    await sim.clock.advance(160)
    codes = [q.code for q in sim.of(QrIssued)]
    assert len(set(codes)) == 6


async def test_scan_pairs_then_connects_after_the_sync_delay(sim: Sim) -> None:
    sim.engine.update_settings(sync_delay_ms=2_500)
    await sim.open()
    await sim.clock.advance(30)
    account = await sim.engine.scan("s1", "+55 (11) 99999-0001", push_name="Shop")
    assert account.phone == PHONE
    paired = sim.of(Paired)
    assert paired == [
        Paired("s1", f"{PHONE}:1@s.whatsapp.net", PHONE, "Shop", lid_for(PHONE), "android")
    ]
    assert sim.engine.phase("s1") is Phase.SYNCING
    assert await sim.engine.ping("s1") is False
    await sim.clock.advance(2.499)
    assert sim.of(Connected) == []
    await sim.clock.advance(0.001)
    assert sim.of(Connected) == [Connected("s1", paired[0].jid, PHONE, "Shop")]
    assert await sim.engine.ping("s1") is True
    # Rotation stopped with the scan: no more codes, no timeout.
    await sim.clock.advance(300)
    assert len(sim.of(QrIssued)) == 1
    assert sim.of(LinkTimedOut) == []


async def test_each_link_gets_a_new_device_number(sim: Sim) -> None:
    first = await sim.link("s1", PHONE)
    second = await sim.link("s2", PHONE)
    assert first == f"{PHONE}:1@s.whatsapp.net"
    assert second == f"{PHONE}:2@s.whatsapp.net"


async def test_scan_without_a_pending_code_is_a_conflict(sim: Sim) -> None:
    with pytest.raises(Conflict) as caught:
        await sim.engine.scan("nope", PHONE)
    assert caught.value.code == "qr_not_pending"
    await sim.link()
    with pytest.raises(Conflict) as caught:
        await sim.engine.scan("s1", PHONE)
    assert caught.value.code == "qr_not_pending"


async def test_scan_by_a_phone_without_whatsapp_is_refused(sim: Sim) -> None:
    await sim.open()
    with pytest.raises(Invalid) as caught:
        await sim.engine.scan("s1", "5511999990000")
    assert caught.value.code == "not_on_whatsapp"
    with pytest.raises(Invalid) as caught:
        await sim.engine.scan("s1", "12")
    assert caught.value.code == "invalid_phone"


async def test_pairing_code_stops_rotation_and_links(sim: Sim) -> None:
    await sim.open()
    await sim.clock.advance(10)
    pairing = await sim.engine.request_pairing_code("s1", "+55 11 99999-0001")
    assert re.fullmatch(f"[{PAIRING_ALPHABET}]{{4}}-[{PAIRING_ALPHABET}]{{4}}", pairing.code)
    assert pairing.expires_at == sim.clock.now() + timedelta(minutes=3)
    assert sim.engine.phase("s1") is Phase.PAIRING
    assert sim.engine.current_qr("s1") is None
    await sim.clock.advance(100)
    assert len(sim.of(QrIssued)) == 1
    with pytest.raises(Conflict):
        await sim.engine.scan("s1", PHONE)
    await sim.engine.enter_pairing_code("s1", pairing.code.lower().replace("-", ""))
    await sim.clock.advance(1)
    assert sim.of(Paired)[0].phone == PHONE
    assert len(sim.of(Connected)) == 1
    await sim.clock.advance(200)
    assert sim.of(LinkTimedOut) == []


async def test_wrong_pairing_code_is_refused_and_the_code_stays_valid(sim: Sim) -> None:
    await sim.open()
    pairing = await sim.engine.request_pairing_code("s1", PHONE)
    wrong = "2222-2222" if pairing.code != "2222-2222" else "3333-3333"
    with pytest.raises(Invalid) as caught:
        await sim.engine.enter_pairing_code("s1", wrong)
    assert caught.value.code == "invalid_pairing_code"
    await sim.engine.enter_pairing_code("s1", pairing.code)
    assert len(sim.of(Paired)) == 1


async def test_pairing_code_expires_after_three_minutes(sim: Sim) -> None:
    await sim.open()
    await sim.engine.request_pairing_code("s1", PHONE)
    await sim.clock.advance(179.9)
    assert sim.of(LinkTimedOut) == []
    await sim.clock.advance(0.1)
    assert sim.of(LinkTimedOut) == [LinkTimedOut("s1", "pairing_timeout")]
    assert sim.engine.phase("s1") is None
    with pytest.raises(Conflict) as caught:
        await sim.engine.enter_pairing_code("s1", "ABCD-EFGH")
    assert caught.value.code == "pairing_code_not_pending"


async def test_a_new_pairing_code_replaces_the_old_one(sim: Sim) -> None:
    await sim.open()
    first = await sim.engine.request_pairing_code("s1", PHONE)
    await sim.clock.advance(120)
    second = await sim.engine.request_pairing_code("s1", PHONE)
    await sim.clock.advance(120)
    assert sim.of(LinkTimedOut) == []
    if first.code != second.code:
        with pytest.raises(Invalid):
            await sim.engine.enter_pairing_code("s1", first.code)
    await sim.clock.advance(60)
    assert len(sim.of(LinkTimedOut)) == 1


async def test_pairing_code_needs_a_linking_session_and_a_valid_number(sim: Sim) -> None:
    with pytest.raises(SessionNotRunning):
        await sim.engine.request_pairing_code("s1", PHONE)
    await sim.open()
    with pytest.raises(EngineError) as caught:
        await sim.engine.request_pairing_code("s1", "not a phone")
    assert (caught.value.code, caught.value.permanent) == ("invalid_phone", True)
    with pytest.raises(EngineError) as caught:
        await sim.engine.request_pairing_code("s1", "5511999990000")
    assert caught.value.code == "not_on_whatsapp"
    await sim.engine.scan("s1", PHONE)
    with pytest.raises(EngineError) as caught:
        await sim.engine.request_pairing_code("s1", PHONE)
    assert caught.value.code == "not_linking"


async def test_open_twice_and_open_before_start_are_errors(sim: Sim) -> None:
    await sim.open()
    with pytest.raises(EngineError) as caught:
        await sim.open()
    assert caught.value.code == "already_running"
    await sim.engine.close()
    with pytest.raises(EngineError) as caught:
        await sim.open("s2")
    assert caught.value.code == "not_started"
