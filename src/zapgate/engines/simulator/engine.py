"""The simulator engine: the Engine protocol over the modelled network.

The protocol methods behave as the neonize engine does (same errors, same events); the
control methods in :class:`~zapgate.engines.simulator.control.SimulatorControls` play
the phones and customers. Supervisor-initiated stops (``close_session``, ``logout``,
``delete_session``, ``close``) emit no event, like whatsmeow's own ``Disconnect``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime, timedelta

from zapgate.domain.behaviour import Behaviour
from zapgate.domain.errors import EngineError, Invalid, SessionNotRunning
from zapgate.domain.messages import ChatPresence, MessageType, ReceiptType
from zapgate.domain.phones import is_group_jid, normalize_phone, user_jid
from zapgate.engines.base import NumberCheck, OutgoingMessage, PairingCode, SendResult, SessionSpec
from zapgate.engines.events import EventSink, GroupInfo, MediaRef, ReceiptReceived
from zapgate.engines.simulator import qr
from zapgate.engines.simulator.control import SimulatorControls
from zapgate.engines.simulator.groups import SimulatorGroups
from zapgate.engines.simulator.inbound import group_info
from zapgate.engines.simulator.network import PresenceRecord, ReadRecord
from zapgate.engines.simulator.profiles import SimulatorProfiles
from zapgate.engines.simulator.session import PendingPairing, Phase, SimSession
from zapgate.engines.simulator.state import OutboxEntry


class SimulatorEngine(SimulatorGroups, SimulatorProfiles, SimulatorControls):
    """A deterministic WhatsApp network in process; see the package docstring."""

    # ---------------------------------------------------------------- lifecycle

    async def start(self, sink: EventSink) -> None:
        if self._sink is not None:
            raise EngineError("already_started", "the simulator is already started")
        self._sink = sink

    async def close(self) -> None:
        cancelled = [t for s in list(self._sessions.values()) for t in self._end(s)]
        await self._reap(cancelled)
        await self._tasks.cancel_all()
        self._sink = None
        self.network.close()

    def problem(self) -> str | None:
        # In process, no workers: it can only be unusable by not being started.
        return None if self._sink is not None else "simulator engine not started"

    async def open_session(self, spec: SessionSpec) -> None:
        if self._sink is None:
            raise EngineError("not_started", "the simulator is not started", permanent=True)
        if spec.session_id in self._sessions:
            raise EngineError(
                "already_running", f"session {spec.session_id} is running", permanent=True
            )
        session = SimSession(spec)
        self._sessions[spec.session_id] = session
        self._spawn_flow(session, self._open_flow(session), "open")

    async def request_pairing_code(self, session_id: str, phone: str) -> PairingCode:
        session = self._running(session_id)
        # A fresh session still dialing is about to show its first QR code: a pairing
        # code may be asked for right away (as neonize does inside the first QR callback).
        fresh = session.phase is Phase.STARTING and not session.spec.resume
        if session.phase not in (Phase.QR, Phase.PAIRING) and not fresh:
            raise EngineError(
                "not_linking",
                f"session {session_id} is not waiting to be linked",
                permanent=True,
            )
        try:
            digits = normalize_phone(phone)
        except Invalid as exc:
            raise EngineError("invalid_phone", exc.message, permanent=True) from exc
        if not self.network.is_on_whatsapp(digits):
            raise EngineError("not_on_whatsapp", f"{digits} is not on WhatsApp", permanent=True)
        await self._reap([t for t in [session.stop_flow()] if t is not None])
        expires_at = self.clock.now() + timedelta(seconds=qr.PAIRING_TTL)
        session.qr = None
        session.pairing = PendingPairing(qr.pairing_code(), digits, expires_at)
        session.phase = Phase.PAIRING
        self._spawn_flow(session, self._pairing_timer(session), "pairing")
        return PairingCode(session.pairing.code, expires_at)

    async def configure_session(self, session_id: str, behaviour: Behaviour) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            return
        before, session.behaviour = session.behaviour, behaviour
        if session.answering and behaviour.always_online != before.always_online:
            self._online.setdefault(session_id, []).append(behaviour.always_online)

    async def close_session(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None:
            await self._reap(self._end(session))

    async def logout(self, session_id: str, *, jid: str | None = None) -> None:
        await self.close_session(session_id)
        self.network.unlink(session_id)
        self._held.pop(session_id, None)

    async def delete_session(self, session_id: str, *, jid: str | None = None) -> None:
        await self.close_session(session_id)
        self.network.forget_session(session_id)
        self._held.pop(session_id, None)

    async def ping(self, session_id: str) -> bool:
        session = self._sessions.get(session_id)
        return session is not None and session.answering and self._network_up

    # ---------------------------------------------------------------- messaging

    async def send(self, session_id: str, message: OutgoingMessage) -> SendResult:
        session, account = await self._ready(session_id)
        to_jid, phone = _recipient(message.to_jid)
        if self.settings.latency_ms:
            await self.clock.sleep(self.settings.latency_ms / 1000)
        if self._sessions.get(session_id) is not session or not session.answering:
            raise SessionNotRunning(session_id)
        if phone is not None and not self.network.is_on_whatsapp(phone):
            raise EngineError("not_on_whatsapp", f"{phone} is not on WhatsApp", permanent=True)
        if phone is not None and self.network.profiles.blocks(account.phone, phone):
            raise EngineError(
                "contact_blocked", f"{phone} is blocked: unblock it to send", permanent=True
            )
        if phone is None:
            group = self.network.group(to_jid)
            if group is None or account.phone not in group.participants:
                raise EngineError("not_in_group", f"not a member of {to_jid}", permanent=True)
        # Drawn on every send, so the sequence of failures depends only on the seed and
        # the number of sends, whatever the rate is changed to.
        if self._rng.random() < self.settings.failure_rate:
            raise EngineError("network_error", "simulated transient send failure")
        stored, duplicate = self.network.record_send(
            session_id, _outbox_entry(message, to_jid, self.clock.now())
        )
        # Reactions get no receipts on WhatsApp; a duplicate was acknowledged the first time.
        auto = self.settings.auto_receipts and message.type is not MessageType.REACTION
        if auto and not duplicate:
            self._tasks.spawn(
                self._auto_receipts(session_id, stored, account.phone),
                name=f"{session_id}:receipts:{stored.wa_message_id}",
            )
        return SendResult(stored.wa_message_id, stored.timestamp)

    async def edit_message(
        self,
        session_id: str,
        chat_jid: str,
        wa_message_id: str,
        text: str,
        mentions: tuple[str, ...] = (),
    ) -> None:
        await self._change(session_id, chat_jid, wa_message_id, text=text)

    async def revoke_message(self, session_id: str, chat_jid: str, wa_message_id: str) -> None:
        await self._change(session_id, chat_jid, wa_message_id, revoke=True)

    async def _change(
        self,
        session_id: str,
        chat_jid: str,
        wa_message_id: str,
        *,
        text: str | None = None,
        revoke: bool = False,
    ) -> None:
        await self._ready(session_id)
        to_jid, _ = _recipient(chat_jid)
        sent = self.network.sent(session_id, wa_message_id)
        if sent is None or sent.to_jid != to_jid:
            raise EngineError(
                "message_not_found",
                f"{wa_message_id} was not sent by this connection to {to_jid}",
                permanent=True,
            )
        if sent.revoked:
            raise EngineError("message_revoked", f"{wa_message_id} was deleted", permanent=True)
        self.network.change_sent(session_id, wa_message_id, text=text, revoke=revoke)

    async def _auto_receipts(self, session_id: str, entry: OutboxEntry, own_phone: str) -> None:
        steps = [ReceiptType.DELIVERED, ReceiptType.READ]
        if entry.type == MessageType.VOICE:
            steps.append(ReceiptType.PLAYED)
        for kind in steps:
            delay_ms = {
                ReceiptType.DELIVERED: self.settings.receipt_delay_ms,
                ReceiptType.READ: self.settings.read_delay_ms,
                ReceiptType.PLAYED: self.settings.played_delay_ms,
            }[kind]
            await self.clock.sleep(delay_ms / 1000)
            if not self.settings.auto_receipts:
                return
            self._deliver(
                session_id,
                ReceiptReceived(
                    session_id,
                    entry.to_jid,
                    (entry.wa_message_id,),
                    kind,
                    self.clock.now(),
                    self._receipt_sender(entry.to_jid, own_phone),
                ),
            )

    async def mark_read(
        self, session_id: str, chat_jid: str, message_ids: list[str], sender_jid: str | None
    ) -> None:
        await self._ready(session_id)
        self.network.record_read(
            session_id, ReadRecord(chat_jid, tuple(message_ids), sender_jid, self.clock.now())
        )

    async def send_presence(self, session_id: str, chat_jid: str, presence: ChatPresence) -> None:
        await self._ready(session_id)
        self.network.record_presence(
            session_id, PresenceRecord(chat_jid, ChatPresence(presence), self.clock.now())
        )

    async def set_presence(self, session_id: str, available: bool) -> None:
        await self._ready(session_id)
        self._online.setdefault(session_id, []).append(available)

    async def check_numbers(self, session_id: str, phones: list[str]) -> list[NumberCheck]:
        await self._ready(session_id)
        checks: list[NumberCheck] = []
        for raw in phones:
            try:
                phone = normalize_phone(raw)
            except Invalid:
                checks.append(NumberCheck(phone=raw, on_whatsapp=False))
                continue
            account = self.network.whatsapp_account(phone)
            checks.append(
                NumberCheck(phone, account is not None, user_jid(account) if account else None)
            )
        return checks

    async def get_groups(self, session_id: str) -> list[GroupInfo]:
        _, account = await self._ready(session_id)
        return [group_info(session_id, g) for g in self.network.groups_of(account.phone)]

    async def download_media(self, session_id: str, media: MediaRef) -> bytes:
        await self._ready(session_id)
        key = media.handle.get("simulator")
        data = self.network.get_media(key) if isinstance(key, str) else None
        if data is None:
            raise EngineError("media_not_found", "the media is not on the server", permanent=True)
        return data


def _recipient(to_jid: str) -> tuple[str, str | None]:
    """``(chat jid, phone)``; phone is None for a group. Raises a permanent error."""
    if to_jid.endswith("@g.us"):
        if not is_group_jid(to_jid):
            raise EngineError("invalid_jid", f"{to_jid!r} is not a group JID", permanent=True)
        return to_jid, None
    try:
        phone = normalize_phone(to_jid)
    except Invalid as exc:
        raise EngineError("invalid_jid", exc.message, permanent=True) from exc
    return user_jid(phone), phone


def _outbox_entry(message: OutgoingMessage, to_jid: str, now: datetime) -> OutboxEntry:
    media = None
    if message.media is not None:
        media = {
            "mimetype": message.media.mimetype,
            "filename": message.media.filename,
            "caption": message.media.caption,
            "size": len(message.media.data),
            "sha256": hashlib.sha256(message.media.data).hexdigest(),
        }
    return OutboxEntry(
        wa_message_id=message.wa_message_id,
        to_jid=to_jid,
        type=MessageType(message.type).value,
        timestamp=now,
        text=message.text,
        media=media,
        location=asdict(message.location) if message.location else None,
        contact=asdict(message.contact) if message.contact else None,
        reaction=asdict(message.reaction) if message.reaction else None,
        reply_to=message.reply_to.wa_message_id if message.reply_to else None,
        mentions=list(message.mentions) or None,
        poll=message.poll.to_json() if message.poll else None,
    )
