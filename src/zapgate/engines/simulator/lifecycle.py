"""The life of a simulated session: dialing, QR rotation, pairing, syncing, connected, end.

:class:`SessionLifecycle` is the machinery under :class:`SimulatorEngine`: it owns the
running sessions, the timers (all on the injected clock, all owned by one
:class:`TaskOwner`) and the way events reach the sink. Events a customer causes while a
session cannot hear them (closed, syncing, silenced) are held, as WhatsApp's servers
hold them, and delivered right after the next ``Connected``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from zapgate.domain.behaviour import proxy_display
from zapgate.domain.errors import EngineError, SessionNotRunning
from zapgate.domain.phones import user_jid
from zapgate.engines.events import (
    Connected,
    Disconnected,
    EngineEvent,
    EventSink,
    LinkTimedOut,
    LoggedOut,
    Paired,
    QrIssued,
    TemporaryBan,
)
from zapgate.engines.simulator import qr
from zapgate.engines.simulator.network import Network
from zapgate.engines.simulator.session import PendingQr, Phase, SimSession
from zapgate.engines.simulator.settings import SimulatorSettings
from zapgate.engines.simulator.state import LinkedAccount, Persistence
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

DIAL_FAILURE = "dial tcp: lookup web.whatsapp.com: no such host"
"""What whatsmeow reports when it cannot even resolve the server (network down)."""
CONNECTION_LOST = "websocket read failed: connection reset by peer"
LOGGED_OUT_FROM_PHONE = "device removed from the phone (401 logged out)"
UNKNOWN_DEVICE = "the phone no longer knows this device (401 logged out)"
BAN_CODE = "101"
"""WhatsApp's temporary ban reason "sent to too many people"."""
LINKED_PLATFORM = "android"


def proxy_refused(display: str) -> str:
    """What whatsmeow reports when its proxy refuses the dial (host and port only)."""
    return f"proxy {display} failed: proxyconnect tcp: connection refused"


class SessionLifecycle:
    name = "simulator"
    chooses_message_ids = True

    def __init__(
        self,
        *,
        data_dir: Path | None,
        clock: Clock,
        seed: int | None = None,
        settings: SimulatorSettings | None = None,
        network: Network | None = None,
    ) -> None:
        """``network``: a shared one (``shared.RemoteNetwork``); default: this process's
        own, kept under ``data_dir``."""
        self.clock = clock
        self.settings = settings or SimulatorSettings()
        self.network = network if network is not None else Network(Persistence(data_dir))
        # Only behaviour draws from the seeded RNG (which sends fail); identifiers come
        # from os.urandom so a restarted engine with the same seed never repeats one.
        self._rng = random.Random(seed)
        self._sessions: dict[str, SimSession] = {}
        self._held: dict[str, list[EngineEvent]] = {}
        self._tasks = TaskOwner("simulator")
        self._sink: EventSink | None = None
        self._network_up = True
        self._online: dict[str, list[bool]] = {}
        """Per session, each time it announced itself available (True) or not."""

    # ---------------------------------------------------------------- events

    def _emit(self, event: EngineEvent) -> None:
        if self._sink is None:
            return
        try:
            self._sink(event)
        except Exception:
            # A broken consumer must not stop the network: the next event still goes out.
            log.exception("simulator event sink failed", extra={"event": type(event).__name__})

    def _deliver(self, session_id: str, event: EngineEvent) -> None:
        """Emit what a customer caused, or hold it until the session can hear it."""
        session = self._sessions.get(session_id)
        if session is not None and session.answering:
            self._emit(event)
        elif self.network.account(session_id) is not None:
            self._held.setdefault(session_id, []).append(event)

    def _flush_held(self, session: SimSession) -> None:
        held = self._held.pop(session.session_id, [])
        for i, event in enumerate(held):
            if not session.answering:
                # Silenced again by a consumer reacting to an earlier event: keep the rest.
                self._held.setdefault(session.session_id, [])[:0] = held[i:]
                return
            self._emit(event)

    # ---------------------------------------------------------------- tasks

    def _spawn_flow(self, session: SimSession, coro: Coroutine[Any, Any, None], step: str) -> None:
        session.flow = self._tasks.spawn(coro, name=f"{session.session_id}:{step}")

    def _end(self, session: SimSession) -> list[asyncio.Task[Any]]:
        """Forget a running session; returns its cancelled step for the caller to await."""
        if self._sessions.get(session.session_id) is session:
            del self._sessions[session.session_id]
        if session.phase is Phase.CONNECTED and not session.ended.is_set():
            self.network.session_live(session.session_id, False)
        session.ended.set()
        session.qr = None
        session.pairing = None
        flow = session.stop_flow()
        return [flow] if flow is not None else []

    @staticmethod
    async def _reap(tasks: list[asyncio.Task[Any]]) -> None:
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ---------------------------------------------------------------- flows

    async def _open_flow(self, session: SimSession) -> None:
        spec = session.spec
        proxy = spec.behaviour.proxy_url
        if proxy is not None and proxy_display(proxy) in self.settings.dead_proxies:
            self._end(session)
            self._emit(Disconnected(spec.session_id, proxy_refused(proxy_display(proxy))))
            return
        if not self._network_up:
            self._end(session)
            self._emit(Disconnected(spec.session_id, DIAL_FAILURE, retryable=True))
            return
        if not spec.resume:
            # Linking anew replaces whatever device this session had.
            self.network.unlink(spec.session_id)
            await self._rotate_qr(session)
            return
        account = self.network.account(spec.session_id)
        if account is None or (spec.jid is not None and spec.jid != account.jid):
            self._end(session)
            self._emit(LoggedOut(spec.session_id, UNKNOWN_DEVICE))
            return
        self._connect(session, account)

    async def _rotate_qr(self, session: SimSession) -> None:
        session.phase = Phase.QR
        for index in range(1, qr.QR_TOTAL + 1):
            ttl = qr.qr_ttl(index)
            pending = PendingQr(qr.qr_code(), self.clock.now() + timedelta(seconds=ttl), index)
            session.qr = pending
            self._emit(
                QrIssued(session.session_id, pending.code, pending.expires_at, index, qr.QR_TOTAL)
            )
            await self.clock.sleep(ttl)
        self._end(session)
        self._emit(LinkTimedOut(session.session_id, "qr_timeout"))

    async def _pairing_timer(self, session: SimSession) -> None:
        await self.clock.sleep(qr.PAIRING_TTL)
        self._end(session)
        self._emit(LinkTimedOut(session.session_id, "pairing_timeout"))

    def _link(self, session: SimSession, phone: str, push_name: str | None) -> LinkedAccount:
        session.stop_flow()
        session.qr = None
        session.pairing = None
        account = self.network.link(session.session_id, phone, push_name, self.clock.now())
        session.phase = Phase.SYNCING
        self._emit(
            Paired(session.session_id, account.jid, phone, push_name, account.lid, LINKED_PLATFORM)
        )
        self._spawn_flow(session, self._sync_then_connect(session, account), "sync")
        return account

    async def _sync_then_connect(self, session: SimSession, account: LinkedAccount) -> None:
        await self.clock.sleep(self.settings.sync_delay_ms / 1000)
        self._connect(session, account)

    def _connect(self, session: SimSession, account: LinkedAccount) -> None:
        banned_for = self.network.ban_remaining(account.phone, self.clock.now())
        if banned_for is not None:
            self._end(session)
            self._emit(TemporaryBan(session.session_id, BAN_CODE, banned_for))
            return
        session.phase = Phase.CONNECTED
        self.network.session_live(session.session_id, True)
        self._emit(Connected(session.session_id, account.jid, account.phone, account.push_name))
        if session.behaviour.always_online:
            self._online.setdefault(session.session_id, []).append(True)
        self._flush_held(session)

    # ---------------------------------------------------------------- guards

    def _running(self, session_id: str) -> SimSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotRunning(session_id)
        return session

    async def _ready(self, session_id: str) -> tuple[SimSession, LinkedAccount]:
        """The connected session, or the error a real client would give instead."""
        session = self._running(session_id)
        account = self.network.account(session_id)
        if session.phase is not Phase.CONNECTED or account is None:
            raise SessionNotRunning(session_id)
        if session.silenced:
            await self._stalled(session)
        return session, account

    async def _stalled(self, session: SimSession) -> NoReturn:
        """A silenced connection never answers: wait for the request timeout, then fail."""
        timeout = self.settings.request_timeout_ms / 1000
        waits = [
            asyncio.ensure_future(self.clock.sleep(timeout)),
            asyncio.ensure_future(session.ended.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if session.ended.is_set():
            raise SessionNotRunning(session.session_id)
        raise EngineError("timeout", "the server did not answer in time", permanent=False)

    def _receipt_sender(self, to_jid: str, own_phone: str) -> str | None:
        group = self.network.group(to_jid)
        if group is None:
            return to_jid
        others = [p for p in group.participants if p != own_phone]
        return user_jid(others[0]) if others else None
