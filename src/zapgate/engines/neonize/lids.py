"""The phone behind a LID, from whatsmeow's LID store, for a message that came without it.

WhatsApp gives the phone beside a LID-addressed message (``SenderAlt``, ``RecipientAlt``)
most of the time; when it does not, the mapping the library learned earlier (from other
messages, contacts, group lists) is asked, so the message still reaches the phone's chat.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from zapgate.engines.events import EngineEvent, MessageReceived
from zapgate.engines.neonize import convert
from zapgate.engines.neonize.gate import HANDLER_GATE_TIMEOUT

if TYPE_CHECKING:
    from zapgate.engines.neonize.session import WorkerSession

log = logging.getLogger(__name__)


def phone_of_lid(session: WorkerSession, lid: str) -> str | None:
    """The phone the library's LID store maps ``lid`` to; None when unknown."""
    try:
        with session.gate.hold(HANDLER_GATE_TIMEOUT):
            jid = session.client.get_pn_from_lid(convert.make_jid(lid))
    except Exception as exc:  # an unknown LID is an error of the library's store
        log.debug("no phone for %s in the LID store: %s", lid, exc)
        return None
    if jid is None or not jid.User or jid.Server != convert.USER_SERVER:
        return None
    return str(jid.User)


def with_stored_phone(session: WorkerSession, event: EngineEvent | None) -> EngineEvent | None:
    """``event`` with the customer's phone filled from the LID store when a 1:1 message
    came addressed by LID without it."""
    if not isinstance(event, MessageReceived) or event.message.is_group:
        return event
    msg = event.message
    if msg.from_me:
        if msg.chat_phone or not msg.chat_jid.endswith("@" + convert.LID_SERVER):
            return event
        phone = phone_of_lid(session, msg.chat_jid)
        return event if phone is None else replace(event, message=replace(msg, chat_phone=phone))
    if msg.sender_phone or not msg.sender_lid:
        return event
    phone = phone_of_lid(session, msg.sender_lid)
    return event if phone is None else replace(event, message=replace(msg, sender_phone=phone))
