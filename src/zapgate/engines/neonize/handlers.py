"""The neonize callbacks of one session, each turned into an engine event or a step
of the session (linking, connected, group changes, calls)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zapgate.engines.events import (
    ClientOutdated,
    Disconnected,
    EngineEvent,
    KeepAlive,
    StreamReplaced,
)
from zapgate.engines.neonize import convert
from zapgate.engines.neonize.calls import on_call
from zapgate.engines.neonize.polls import on_message

if TYPE_CHECKING:
    from zapgate.engines.neonize.session import WorkerSession


def install_handlers(client: Any, session: WorkerSession) -> None:
    """Register exactly one handler per neonize event (a second one would replace it)."""
    from neonize import events as ev

    sid = session.session_id

    def on(event_type: Any, name: str, body: Callable[[Any], None]) -> None:
        def handler(_client: Any, message: Any) -> None:
            session.guard(name, lambda: body(message))

        client.event(event_type)(handler)

    def terminal(make: Callable[[Any], EngineEvent]) -> Callable[[Any], None]:
        def body(message: Any) -> None:
            session.finish(make(message))

        return body

    def history(message: Any) -> None:
        for item in convert.history_events(sid, message):
            session.emit(item)

    on(ev.PairStatusEv, "pair_status", session.on_paired)
    on(ev.ConnectedEv, "connected", lambda _m: session.on_connected())
    on(
        ev.DisconnectedEv,
        "disconnected",
        terminal(
            lambda _m: Disconnected(sid, reason="connection to WhatsApp lost", retryable=True)
        ),
    )
    on(ev.LoggedOutEv, "logged_out", terminal(lambda m: convert.logged_out_event(sid, m)))
    on(ev.StreamReplacedEv, "stream_replaced", terminal(lambda _m: StreamReplaced(sid)))
    on(ev.TemporaryBanEv, "temporary_ban", terminal(lambda m: convert.temporary_ban_event(sid, m)))
    on(
        ev.ConnectFailureEv,
        "connect_failure",
        terminal(lambda m: convert.connect_failure_event(sid, m)),
    )
    on(ev.ClientOutdatedEv, "client_outdated", terminal(lambda _m: ClientOutdated(sid)))
    on(
        ev.KeepAliveTimeoutEv,
        "keepalive_timeout",
        lambda _m: session.emit(KeepAlive(sid, ok=False)),
    )
    on(
        ev.KeepAliveRestoredEv,
        "keepalive_restored",
        lambda _m: session.emit(KeepAlive(sid, ok=True)),
    )
    on(ev.MessageEv, "message", lambda m: on_message(session, m))
    on(ev.ReceiptEv, "receipt", lambda m: session.emit(convert.receipt_event(sid, m)))
    on(ev.HistorySyncEv, "history_sync", history)
    on(ev.GroupInfoEv, "group_info", session.on_group_change)
    on(ev.JoinedGroupEv, "joined_group", session.on_joined_group)
    on(ev.PictureEv, "picture", session.on_picture)
    on(ev.PresenceEv, "presence", lambda m: session.emit(convert.presence_event(sid, m)))
    on(
        ev.ChatPresenceEv,
        "chat_presence",
        lambda m: session.emit(convert.chat_presence_event(sid, m)),
    )
    on(ev.CallOfferEv, "call_offer", lambda m: on_call(session, m))

    def on_qr(_client: Any, data: bytes) -> None:
        session.guard("qr", lambda: session.on_qr(data))

    client.qr(on_qr)

    def on_login_status(_uuid: int, status: int) -> None:
        # neonize prints these to stdout; the login "timeout" is the QR rotation's end.
        text = ctypes.string_at(status).decode() if isinstance(status, int) else str(status)
        session.guard("login_status", lambda: session.on_login_status(text))

    client._NewClient__onLoginStatus = on_login_status
