"""Real engine worker processes: offline failures, crashes, restarts, hanging dials.

A silent proxy (``silent.py``) makes the library's dial hang like an unresponsive
network, so a session stays alive in its worker and every dial the library makes is
counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.broken_neonize import MISSING, broken_pythonpath
from tests.integration.engines.neonize.silent import SilentProxy
from zapgate.domain.errors import EngineError
from zapgate.engines import base
from zapgate.engines.events import (
    Connected,
    ConnectFailure,
    Disconnected,
    EngineEvent,
    EngineFault,
    LoggedOut,
)
from zapgate.engines.neonize.engine import NeonizeEngine
from zapgate.engines.neonize.pool import WorkerProcess
from zapgate.engines.neonize.worker import sqlite_store_path
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import ManualClock, SystemClock

pytestmark = pytest.mark.slow
DEADLINE = 20.0


@pytest.fixture
def proxy() -> Iterator[SilentProxy]:
    p = SilentProxy()
    yield p
    p.close()


async def until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def spec(session_id: str, **kw: object) -> base.SessionSpec:
    return base.SessionSpec(
        session_id, "org", resume=bool(kw.get("resume", False)), jid=kw.get("jid")
    )  # type: ignore[arg-type]


@pytest.fixture
async def events() -> list[EngineEvent]:
    return []


@pytest.fixture
async def engine(tmp_path: Path, events: list[EngineEvent]) -> AsyncIterator[NeonizeEngine]:
    e = NeonizeEngine(data_dir=tmp_path, clock=SystemClock(), warm_spare=False)
    await e.start(events.append)
    yield e
    await e.close()


@pytest.fixture
async def hanging(
    tmp_path: Path, events: list[EngineEvent], proxy: SilentProxy
) -> AsyncIterator[NeonizeEngine]:
    e = NeonizeEngine(data_dir=tmp_path, clock=SystemClock(), proxy=proxy.url, stop_timeout=2.0)
    await e.start(events.append)
    yield e
    await e.close()


def of(events: list[EngineEvent], session_id: str) -> list[EngineEvent]:
    return [e for e in events if e.session_id == session_id]


async def test_offline_open_reports_the_failed_lookup(
    engine: NeonizeEngine, events: list[EngineEvent]
) -> None:
    started = time.monotonic()
    await engine.open_session(spec("s1"))
    drop = await until(lambda: next(iter(of(events, "s1")), None), "a drop")
    assert isinstance(drop, Disconnected | ConnectFailure)
    # Offline is a passing condition: whichever event reports it, a retry may help.
    if isinstance(drop, Disconnected):
        assert drop.retryable
    else:
        assert not drop.permanent
    assert "web.whatsapp.com" in drop.reason
    assert "lookup" in drop.reason or "dial" in drop.reason
    assert time.monotonic() - started < DEADLINE
    assert not any(isinstance(e, Connected) for e in events)
    # The session is closed after the drop and can be opened again.
    await until(lambda: not engine.workers, "the empty worker to stop")
    await engine.open_session(spec("s1"))
    await until(lambda: len(of(events, "s1")) == 2, "the second drop")


async def test_resume_with_unknown_credentials_is_logged_out_not_a_panic(
    engine: NeonizeEngine, events: list[EngineEvent], tmp_path: Path
) -> None:
    await engine.open_session(spec("s1", resume=True, jid="5511999990001:3@s.whatsapp.net"))
    event = await until(lambda: next(iter(of(events, "s1")), None), "an event")
    assert isinstance(event, LoggedOut)
    # A store that exists but lacks the JID: still no JID is passed to the library.
    store = sqlite_store_path(tmp_path, "s2")
    store.parent.mkdir(parents=True, exist_ok=True)
    store.touch()
    await engine.open_session(spec("s2", resume=True, jid="5511999990002:3@s.whatsapp.net"))
    event = await until(lambda: next(iter(of(events, "s2")), None), "an event")
    assert isinstance(event, LoggedOut)
    assert "not in the engine's credential store" in event.reason


async def test_sigkill_restarts_the_worker_and_resumes_only_its_sessions(
    hanging: NeonizeEngine, events: list[EngineEvent], proxy: SilentProxy
) -> None:
    await hanging.open_session(spec("a"))
    await hanging.open_session(spec("b"))
    await until(lambda: len(proxy.accepted) >= 2, "both sessions dialing")
    victim, other = hanging.worker_of("a"), hanging.worker_of("b")
    assert victim is not None
    assert other is not None
    assert victim is not other
    os.kill(victim.pid or 0, signal.SIGKILL)
    drop = await until(lambda: next(iter(of(events, "a")), None), "the crash report")
    assert isinstance(drop, Disconnected)
    assert drop.retryable
    assert "engine worker exited (killed by SIGKILL" in drop.reason
    # Restarted and the open re-sent: the new worker dials again.
    await until(lambda: len(proxy.accepted) >= 3, "the resumed session dialing")
    restarted = hanging.worker_of("a")
    assert restarted is not None
    assert restarted.alive
    assert restarted.pid != victim.pid
    assert hanging.problem() is None
    # The other worker never noticed.
    assert other.alive
    assert hanging.worker_of("b") is other
    assert of(events, "b") == []
    # An open_session from the gateway's supervisor adopts the resumed session.
    await hanging.open_session(spec("a"))
    with pytest.raises(EngineError, match="already_open"):
        await hanging.open_session(spec("a"))


async def test_close_logout_delete_during_a_hanging_dial_are_bounded(
    hanging: NeonizeEngine, events: list[EngineEvent], proxy: SilentProxy, tmp_path: Path
) -> None:
    for sid in ("c", "l", "d"):
        await hanging.open_session(spec(sid))
    await until(lambda: len(proxy.accepted) >= 3, "three sessions dialing")
    assert sqlite_store_path(tmp_path, "d").exists()
    for call, sid in (
        (hanging.close_session, "c"),
        (hanging.logout, "l"),
        (hanging.delete_session, "d"),
    ):
        started = time.monotonic()
        await call(sid)
        assert time.monotonic() - started < 6.0, f"{call.__name__} blocked"
        assert hanging.worker_of(sid) is None
    assert not sqlite_store_path(tmp_path, "d").exists()
    assert not sqlite_store_path(tmp_path, "l").exists()
    await until(lambda: not hanging.workers, "every worker gone")
    assert [e for e in events if e.session_id in ("c", "l", "d")] == []
    assert await hanging.ping("c") is False


async def test_a_crash_looping_worker_is_backed_off_and_reported(
    tmp_path: Path, proxy: SilentProxy
) -> None:
    clock = ManualClock()
    events: list[EngineEvent] = []
    engine = NeonizeEngine(
        data_dir=tmp_path,
        clock=clock,
        proxy=proxy.url,
        backoff=BackoffConfig(min_delay=1.0, max_delay=60.0, jitter=0.0),
        warm_spare=False,
    )
    await engine.start(events.append)
    try:
        await engine.open_session(spec("x"))
        await until(lambda: proxy.accepted, "the session dialing")
        worker = engine.worker_of("x")
        assert worker is not None
        assert engine.spare is None
        assert engine.problem() is None
        break_python(engine, tmp_path)
        spawned: list[WorkerProcess] = []
        original = WorkerProcess.spawn

        async def counting(self: WorkerProcess) -> None:
            spawned.append(self)
            await original(self)

        WorkerProcess.spawn = counting  # type: ignore[method-assign]
        try:
            os.kill(worker.pid or 0, signal.SIGKILL)
            await until(lambda: clock.pending, "the restart to wait for its backoff")
            delays = []
            for attempt in range(1, 5):
                delay = clock.next_deadline()
                assert delay is not None
                delays.append(round(delay, 3))
                # Not restarted hot: nothing is spawned before the delay has passed.
                assert len(spawned) == attempt - 1
                await clock.advance(delay)
                await until(lambda n=attempt: len(spawned) == n and clock.pending, "a retry")
        finally:
            WorkerProcess.spawn = original  # type: ignore[method-assign]
        assert delays == [1.0, 2.0, 4.0, 8.0]
        faults = [e for e in events if isinstance(e, EngineFault)]
        assert len(faults) == 1
        assert faults[0].code == "engine_worker_crash_loop"
        # /readyz says so while it lasts (one routine restart does not).
        assert engine.problem() == "every engine worker (1) crash-looping, holding 1 session(s)"
        drops = [e for e in events if isinstance(e, Disconnected)]
        assert len(drops) == 1  # reported once, not at every failed restart
    finally:
        await engine.close()


def break_python(engine: NeonizeEngine, tmp_path: Path) -> None:
    """From now on every worker start dies at once, like a Go fatal error at import."""
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'fatal error: concurrent map writes' >&2\nexit 2\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    engine.options = dataclasses.replace(engine.options, python=str(broken))


async def test_a_killed_worker_hands_its_sessions_to_the_warm_spare(
    hanging: NeonizeEngine, events: list[EngineEvent], proxy: SilentProxy
) -> None:
    await hanging.open_session(spec("a"))
    await until(lambda: proxy.accepted, "the session dialing")
    spare = await until(lambda: hanging.spare, "a warm spare")
    victim = hanging.worker_of("a")
    assert victim is not None
    assert victim is not spare
    assert hanging.workers == [victim]
    os.kill(victim.pid or 0, signal.SIGKILL)
    await until(lambda: len(proxy.accepted) >= 2, "the session dialing from the spare")
    assert hanging.worker_of("a") is spare
    assert hanging.workers == [spare]
    (drop,) = of(events, "a")
    assert isinstance(drop, Disconnected)
    assert drop.retryable
    # A new spare is started in the background; one that dies is replaced too.
    second = await until(
        lambda: hanging.spare not in (None, spare) and hanging.spare, "a new spare"
    )
    assert second.pid not in (spare.pid, victim.pid)
    os.kill(second.pid or 0, signal.SIGKILL)
    third = await until(
        lambda: hanging.spare not in (None, second) and hanging.spare,
        "the dead spare's replacement",
    )
    assert third.pid != second.pid
    # The gateway's supervisor adopts the moved session; nothing else was reported.
    await hanging.open_session(spec("a"))
    assert len(of(events, "a")) == 1
    assert spare.alive


async def test_spares_are_replaced_with_backoff_never_hot(
    tmp_path: Path, proxy: SilentProxy
) -> None:
    clock = ManualClock()
    events: list[EngineEvent] = []
    engine = NeonizeEngine(
        data_dir=tmp_path,
        clock=clock,
        proxy=proxy.url,
        backoff=BackoffConfig(min_delay=1.0, max_delay=60.0, jitter=0.0),
    )
    await engine.start(events.append)
    try:
        await engine.open_session(spec("x"))
        await until(lambda: proxy.accepted, "the session dialing")
        spare = await until(lambda: engine.spare, "a warm spare")
        worker = engine.worker_of("x")
        assert worker is not None
        os.kill(worker.pid or 0, signal.SIGKILL)
        # Taken over at once: no backoff is waited for the first crash.
        await until(
            lambda: engine.worker_of("x") is spare and len(proxy.accepted) >= 2,
            "the session on the spare",
        )
        break_python(engine, tmp_path)
        spawned: list[WorkerProcess] = []
        original = WorkerProcess.spawn

        async def counting(self: WorkerProcess) -> None:
            spawned.append(self)
            await original(self)

        WorkerProcess.spawn = counting  # type: ignore[method-assign]
        try:
            delays = []
            for attempt in range(1, 5):
                await until(lambda: clock.pending, "the next spare to wait for its backoff")
                delay = clock.next_deadline()
                assert delay is not None
                delays.append(round(delay, 3))
                assert len(spawned) == attempt - 1  # nothing started before its delay
                await clock.advance(delay)
                await until(
                    lambda n=attempt: len(spawned) == n and not spawned[-1].alive and clock.pending,
                    "the spare to die and wait again",
                )
        finally:
            WorkerProcess.spawn = original  # type: ignore[method-assign]
        # Used up (1.0 s), then dying at start: 2, 4, 8 s.
        assert delays == [1.0, 2.0, 4.0, 8.0]
        assert engine.spare is None
        assert engine.worker_of("x") is spare
        assert spare.alive
        assert [type(e) for e in events] == [Disconnected]
    finally:
        await engine.close()


async def test_sessions_opened_together_share_workers_and_all_start(
    tmp_path: Path, proxy: SilentProxy
) -> None:
    """A restart restores many sessions at once: with several sessions per worker, the
    opens that arrive while their worker is still starting wait for it, none is left
    unopened and no worker takes more than its share."""
    engine = NeonizeEngine(
        data_dir=tmp_path,
        clock=SystemClock(),
        proxy=proxy.url,
        sessions_per_worker=3,
        stagger=0.05,
        warm_spare=False,
    )
    await engine.start(lambda _event: None)
    try:
        ids = [f"s{n}" for n in range(6)]
        await asyncio.gather(*(engine.open_session(spec(sid)) for sid in ids))
        await until(lambda: len(proxy.accepted) >= len(ids), "every session dialing")
        placed = [engine.worker_of(sid) for sid in ids]
        assert len(engine.workers) == 2
        assert sorted(placed.count(w) for w in engine.workers) == [3, 3]
    finally:
        await engine.close()


async def test_opens_waiting_for_a_worker_that_cannot_load_the_library_all_fail_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", broken_pythonpath(tmp_path))
    events: list[EngineEvent] = []
    engine = NeonizeEngine(
        data_dir=tmp_path, clock=SystemClock(), sessions_per_worker=3, warm_spare=False
    )
    await engine.start(events.append)
    try:
        outcomes = await asyncio.gather(
            *(engine.open_session(spec(f"s{n}")) for n in range(3)), return_exceptions=True
        )
        for outcome in outcomes:
            assert isinstance(outcome, EngineError)
            assert (outcome.code, outcome.permanent) == ("engine_unavailable", True)
            assert MISSING in outcome.message
        assert engine.problem() == outcomes[0].message
        # Nothing is left placed, restarting or reported as a crash.
        assert engine.workers == []
        assert [engine.worker_of(f"s{n}") for n in range(3)] == [None, None, None]
        assert events == []
    finally:
        await engine.close()
