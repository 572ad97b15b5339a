"""Playing the phones and the customers: what only the simulator can be asked to do.

These back the ``/api/v1/simulator`` routes. Wrong-state calls raise domain errors with
stable codes (``Conflict`` → 409, ``NotFound`` → 404, ``Invalid`` → 422) so the API's one
error mapper answers them without special cases.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from zapgate.domain.errors import Conflict, Invalid, NotFound
from zapgate.domain.messages import ChatPresence, ContactCard, Location, MessageType, ReceiptType
from zapgate.domain.phones import normalize_phone, user_jid
from zapgate.domain.polls import Poll
from zapgate.engines.base import new_wa_message_id
from zapgate.engines.events import (
    CallReceived,
    ChatPresenceUpdate,
    Disconnected,
    LoggedOut,
    PresenceUpdate,
    Reaction,
    ReceiptReceived,
    TemporaryBan,
)
from zapgate.engines.simulator import lifecycle as lc
from zapgate.engines.simulator.inbound import (
    CHANGES,
    Incoming,
    SimMedia,
    build_change,
    build_incoming,
)
from zapgate.engines.simulator.network import PresenceRecord, ReadRecord
from zapgate.engines.simulator.polls import build_vote
from zapgate.engines.simulator.qr import normalize_pairing_code
from zapgate.engines.simulator.session import PendingPairing, PendingQr, Phase, SimSession
from zapgate.engines.simulator.settings import SimulatorSettings
from zapgate.engines.simulator.state import LinkedAccount, OutboxEntry


class SimulatorControls(lc.SessionLifecycle):
    # ---------------------------------------------------------------- linking

    async def scan(
        self, session_id: str, phone: str, push_name: str | None = None
    ) -> LinkedAccount:
        """The phone ``phone`` scans the QR code shown now; ``Paired`` then ``Connected``."""
        session = self._sessions.get(session_id)
        if session is None or session.phase is not Phase.QR or session.qr is None:
            raise Conflict("no QR code is pending for this connection", code="qr_not_pending")
        digits = self._linking_phone(phone)
        return self._link(session, digits, push_name)

    async def enter_pairing_code(
        self, session_id: str, code: str, push_name: str | None = None
    ) -> LinkedAccount:
        """The phone types the pairing code; a wrong code is refused like on a real phone."""
        session = self._sessions.get(session_id)
        if session is None or session.phase is not Phase.PAIRING or session.pairing is None:
            raise Conflict(
                "no pairing code is pending for this connection", code="pairing_code_not_pending"
            )
        if normalize_pairing_code(code) != session.pairing.code:
            raise Invalid("the pairing code is wrong", code="invalid_pairing_code")
        return self._link(session, session.pairing.phone, push_name)

    def _linking_phone(self, phone: str) -> str:
        digits = normalize_phone(phone)
        if not self.network.is_on_whatsapp(digits):
            raise Invalid(f"{digits} has no WhatsApp to scan with", code="not_on_whatsapp")
        return digits

    # ---------------------------------------------------------------- customers

    async def incoming(
        self,
        session_id: str,
        *,
        from_phone: str,
        text: str | None = None,
        type: MessageType | str | None = None,
        caption: str | None = None,
        push_name: str | None = None,
        media: SimMedia | None = None,
        group: str | None = None,
        group_name: str | None = None,
        quoted_id: str | None = None,
        location: Location | None = None,
        contact: ContactCard | None = None,
        reaction: Reaction | None = None,
        wa_message_id: str | None = None,
        mentions: tuple[str, ...] = (),
        message_id: str | None = None,
        poll: Poll | None = None,
        as_lid: bool = False,
        with_phone: bool = True,
    ) -> str:
        """A customer sends a message to this connection's number; returns its id.

        ``type`` defaults to what the content is (text, media by its mimetype, location,
        contact, reaction). ``group`` is a group JID or a name (a stable JID is derived
        from it); the group is created or updated with the sender and this number as
        participants. Messages to a linked connection that is not connected are held and
        delivered after its next ``Connected``. ``type`` ``edit`` (new ``text``) and
        ``revoke`` change the customer's earlier message ``message_id`` instead.
        ``as_lid`` addresses the message by the customer's LID, with their phone beside
        it unless ``with_phone`` is False.
        """
        account = self._account(session_id)
        sender = normalize_phone(from_phone)
        if group is None and self.network.profiles.blocks(account.phone, sender):
            # WhatsApp never delivers a blocked contact's messages; their phone shows one tick.
            return wa_message_id or new_wa_message_id()
        spec = Incoming(
            from_phone=from_phone,
            type=type,
            text=text,
            caption=caption,
            push_name=push_name,
            media=media,
            group=group,
            group_name=group_name,
            quoted_id=quoted_id,
            location=location,
            contact=contact,
            reaction=reaction,
            wa_message_id=wa_message_id,
            mentions=mentions,
            message_id=message_id,
            poll=poll,
            as_lid=as_lid,
            with_phone=with_phone,
        )
        if spec.type in CHANGES:
            events, wa_message_id = build_change(session_id, account, spec, self.clock.now())
        else:
            events, wa_message_id = build_incoming(
                self.network, session_id, account, spec, self.clock.now()
            )
        for event in events:
            self._deliver(session_id, event)
        return wa_message_id

    async def vote(
        self,
        session_id: str,
        *,
        from_phone: str,
        poll_message_id: str,
        options: list[str],
        push_name: str | None = None,
    ) -> str:
        """A customer votes on a poll this connection sent or received (``options`` empty
        withdraws the vote); returns the id of the vote's message."""
        account = self._account(session_id)
        vote, vote_id = build_vote(
            self.network,
            session_id,
            account,
            from_phone=from_phone,
            poll_message_id=poll_message_id,
            options=options,
            push_name=push_name,
            now=self.clock.now(),
        )
        self._deliver(session_id, vote)
        return vote_id

    async def receipt(self, session_id: str, wa_message_id: str, type: ReceiptType | str) -> None:
        """The customer's phone acknowledges a message this connection sent."""
        try:
            kind = ReceiptType(type)
        except ValueError:
            raise Invalid(f"unknown receipt type {type!r}", code="invalid_receipt") from None
        entry = self.network.sent(session_id, wa_message_id)
        account = self.network.account(session_id)
        if entry is None or account is None:
            raise NotFound(
                f"message {wa_message_id} was not sent by this connection",
                code="message_not_found",
            )
        self._deliver(
            session_id,
            ReceiptReceived(
                session_id,
                entry.to_jid,
                (wa_message_id,),
                kind,
                self.clock.now(),
                self._receipt_sender(entry.to_jid, account.phone),
            ),
        )

    async def call(
        self, session_id: str, *, from_phone: str, is_video: bool = False
    ) -> CallReceived:
        """A customer calls this number. A connected session that rejects calls hangs up
        at once (``rejected``); otherwise the call rings out (missed). A call to a linked
        connection that is not connected is reported, missed, after its next connect."""
        self._account(session_id)
        phone = normalize_phone(from_phone)
        session = self._sessions.get(session_id)
        rejected = bool(session and session.answering and session.behaviour.reject_calls)
        event = CallReceived(
            session_id,
            "SIMCALL" + os.urandom(8).hex().upper(),
            user_jid(phone),
            self.clock.now(),
            caller_phone=phone,
            is_video=is_video,
            rejected=rejected,
        )
        self._deliver(session_id, event)
        return event

    async def presence(
        self, session_id: str, *, from_phone: str, presence: str, group: str | None = None
    ) -> None:
        """A customer comes online or goes offline (``available``/``unavailable``), or
        types, records audio or stops (``typing``/``recording``/``paused``) in their chat
        with this number, or in ``group``. Presence is not kept for a session that is
        not connected (WhatsApp does not queue it)."""
        phone = normalize_phone(from_phone)
        session = self._running_or_conflict(session_id)
        if not session.answering:
            raise Conflict("the session is not connected", code="not_connected")
        jid = user_jid(phone)
        event: PresenceUpdate | ChatPresenceUpdate
        if presence in ("available", "unavailable"):
            online = presence == "available"
            event = PresenceUpdate(
                session_id, jid, available=online, last_seen=None if online else self.clock.now()
            )
        else:
            try:
                state = ChatPresence(presence)
            except ValueError:
                raise Invalid(
                    "presence is available, unavailable, typing, recording or paused",
                    code="invalid_presence",
                ) from None
            event = ChatPresenceUpdate(session_id, group or jid, jid, state, sender_phone=phone)
        self._emit(event)

    # ---------------------------------------------------------------- faults

    async def drop(self, session_id: str) -> None:
        """The connection breaks: ``Disconnected(retryable=True)`` and the session ends."""
        session = self._running_or_conflict(session_id)
        await self._reap(self._end(session))
        self._emit(Disconnected(session_id, lc.CONNECTION_LOST, retryable=True))

    async def logout_from_phone(self, session_id: str) -> None:
        """The user removes the device on the phone: ``LoggedOut`` and credentials gone."""
        if self.network.unlink(session_id) is None:
            raise Conflict("this connection has no linked device", code="not_linked")
        self._held.pop(session_id, None)
        session = self._sessions.get(session_id)
        if session is not None:
            await self._reap(self._end(session))
            self._emit(LoggedOut(session_id, lc.LOGGED_OUT_FROM_PHONE))

    async def ban(self, session_id: str, seconds: float) -> None:
        """WhatsApp bans the number for ``seconds``; connecting before then is refused."""
        if not seconds > 0:
            raise Invalid("a ban lasts a positive number of seconds", code="invalid_ban")
        account = self._account(session_id)
        self.network.ban(account.phone, self.clock.now() + timedelta(seconds=seconds))
        session = self._sessions.get(session_id)
        if session is not None:
            await self._reap(self._end(session))
            self._emit(TemporaryBan(session_id, lc.BAN_CODE, float(seconds)))

    async def silence(self, session_id: str, silent: bool = True) -> None:
        """Stop answering while still "connected": no events, ``ping`` False, calls time out.

        ``silent=False`` makes it answer again and delivers what was held meanwhile.
        """
        session = self._running_or_conflict(session_id)
        session.silenced = silent
        if not silent and session.answering:
            self._flush_held(session)

    async def set_network(self, up: bool) -> None:
        """Take the whole network down (every session drops, dialing fails) or back up."""
        self._network_up = up
        if up:
            return
        for session in list(self._sessions.values()):
            await self._reap(self._end(session))
            self._emit(Disconnected(session.session_id, lc.CONNECTION_LOST, retryable=True))

    @property
    def network_up(self) -> bool:
        return self._network_up

    async def set_on_whatsapp(self, phone: str, on: bool | None) -> None:
        """Whether ``phone`` has WhatsApp; ``None`` returns it to the documented rule
        (see :data:`~zapgate.engines.simulator.network.NOT_ON_WHATSAPP_SUFFIX`)."""
        self.network.set_on_whatsapp(normalize_phone(phone), on)

    def is_on_whatsapp(self, phone: str) -> bool:
        return self.network.is_on_whatsapp(normalize_phone(phone))

    # ---------------------------------------------------------------- settings

    def update_settings(self, **changes: Any) -> SimulatorSettings:
        """Apply validated changes (raises ``Invalid``); running timers see them at once."""
        self.settings = self.settings.updated(**changes)
        return self.settings

    # ---------------------------------------------------------------- what the network saw

    def outbox(self, session_id: str) -> list[OutboxEntry]:
        """Messages the network received from this connection, in order, one per id."""
        return self.network.outbox(session_id)

    def reads(self, session_id: str) -> list[ReadRecord]:
        return self.network.reads(session_id)

    def presences(self, session_id: str) -> list[PresenceRecord]:
        return self.network.presences(session_id)

    def online(self, session_id: str) -> list[bool]:
        """Each time the session announced itself available (True) or unavailable."""
        return list(self._online.get(session_id, ()))

    def linked_account(self, session_id: str) -> LinkedAccount | None:
        return self.network.account(session_id)

    def phase(self, session_id: str) -> Phase | None:
        """Where a running session is; ``None`` when it is not running."""
        session = self._sessions.get(session_id)
        return session.phase if session is not None else None

    def current_qr(self, session_id: str) -> PendingQr | None:
        session = self._sessions.get(session_id)
        return session.qr if session is not None else None

    def pending_pairing(self, session_id: str) -> PendingPairing | None:
        session = self._sessions.get(session_id)
        return session.pairing if session is not None else None

    def held_events(self, session_id: str) -> int:
        """How many customer events wait for this session to be connected again."""
        return len(self._held.get(session_id, ()))

    @property
    def background_tasks(self) -> int:
        return len(self._tasks)

    # ---------------------------------------------------------------- guards

    def _account(self, session_id: str) -> LinkedAccount:
        account = self.network.account(session_id)
        if account is None:
            raise Conflict("this connection has no linked device", code="not_linked")
        return account

    def _running_or_conflict(self, session_id: str) -> SimSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise Conflict("this connection is not running", code="not_running")
        return session
