"""Calls and the connection's behaviour on a neonize session: incoming call offers
(rejected when the connection rejects calls), presence kept available, the device
properties asking for full history, and what a dial through a proxy reports."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from zapgate.domain.behaviour import Behaviour, SyncHistory, proxy_display
from zapgate.engines.events import CallReceived
from zapgate.engines.neonize import convert
from zapgate.engines.neonize.gate import HANDLER_GATE_TIMEOUT

if TYPE_CHECKING:
    from zapgate.engines.neonize.session import WorkerSession

log = logging.getLogger(__name__)


def call_event(session_id: str, offer: Any, *, rejected: bool) -> CallReceived:
    """A whatsmeow ``CallOffer`` as an engine event.

    The offer's node (``data``) says what the call is: a ``video`` child for a video
    call, a ``group-jid`` attribute for a group call.
    """
    meta = offer.basicCallMeta
    creator = meta.callCreator if meta.callCreator.User else _from(meta)
    phone, lid = convert.phone_and_lid(creator, meta.callCreatorAlt)
    tags, attrs = _walk(offer.data)
    return CallReceived(
        session_id,
        call_id=meta.callID,
        caller_jid=convert.jid_str(creator),
        timestamp=convert.timestamp_of(meta.timestamp),
        caller_phone=phone,
        caller_lid=lid,
        is_video="video" in tags,
        is_group="group-jid" in attrs,
        rejected=rejected,
    )


def _from(meta: Any) -> Any:
    """The offer's ``from`` JID (a Python keyword, so not an attribute to write)."""
    return getattr(meta, "from")


def _walk(node: Any) -> tuple[set[str], set[str]]:
    """Every tag and attribute name in ``node`` and below it."""
    tags: set[str] = set()
    attrs: set[str] = set()
    todo = [node]
    while todo:
        current = todo.pop()
        tags.add(current.Tag)
        attrs.update(attr.name for attr in current.Attrs)
        todo.extend(current.Nodes)
    return tags, attrs


def on_call(session: WorkerSession, offer: Any) -> None:
    """Report a call offer; reject it first when the connection rejects calls.

    Only the offer is reported: the offer notice that other devices of the number get
    for the same call, and the terminate that follows, would make one call three rows.
    """
    rejected = False
    if session.spec.behaviour.reject_calls:
        meta = offer.basicCallMeta
        try:
            with session.gate.hold(HANDLER_GATE_TIMEOUT):
                session.ready_client().reject_call(_from(meta), meta.callID)
            rejected = True
        except Exception as exc:  # the library raises plain exceptions with Go's message
            log.warning(
                "rejecting a call failed: %s", exc, extra={"session_id": session.session_id}
            )
    session.emit(call_event(session.session_id, offer, rejected=rejected))


def announce_presence(session: WorkerSession, *, online: bool) -> None:
    """Show the number available (``always_online``) or stop doing so."""
    from neonize.utils.enum import Presence

    try:
        with session.gate.hold(HANDLER_GATE_TIMEOUT):
            session.ready_client().send_presence(
                Presence.AVAILABLE if online else Presence.UNAVAILABLE
            )
    except Exception as exc:
        log.warning("sending presence failed: %s", exc, extra={"session_id": session.session_id})


def device_props(behaviour: Behaviour) -> Any:
    """The device properties a new link announces; None keeps neonize's own.

    whatsmeow imports what the phone sends; ``requireFullSync`` asks the phone for all
    of it instead of the recent part. ``none`` cannot stop the phone sending: the
    runner drops that history (``sessions/traffic.py``).
    """
    if behaviour.sync_history is not SyncHistory.FULL:
        return None
    from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps

    return DeviceProps(os="Neonize", platformType=DeviceProps.SAFARI, requireFullSync=True)


def connect_failure(error: str, proxy: str | None) -> str:
    """Why a connect failed; through a proxy the message says so (credentials removed)."""
    if proxy is None:
        return f"connect failed: {error}"
    shown = proxy_display(proxy)
    return f"connect through proxy {shown} failed: {error.replace(proxy, shown)}"
