"""One WhatsApp session inside an engine worker: a neonize client and its handlers.

Runs only in a worker process. Every library call goes through the worker's
:class:`LibraryGate` (one lock), because the Go core keeps clients in unsynchronized
global maps. Every handler is wrapped so an exception is logged and reported as
:class:`EngineFault` instead of vanishing inside the library's callback thread.

After a drop (disconnect, logout, ban, failure, link timeout) the session reports it
once, stops its client and ends: whatsmeow's own auto-reconnect never gets to run,
because the gateway's supervisor owns the retry policy and calls ``open`` again.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from zapgate.domain.errors import EngineError, SessionNotRunning
from zapgate.domain.messages import ChatPresence
from zapgate.engines import base
from zapgate.engines.events import (
    ClientOutdated,
    ConnectFailure,
    Disconnected,
    EngineEvent,
    EngineFault,
    GroupInfo,
    KeepAlive,
    LinkTimedOut,
    MediaRef,
    Paired,
    QrIssued,
    StreamReplaced,
)
from zapgate.engines.neonize import convert, convert_groups, outgoing

log = logging.getLogger(__name__)

Emit = Callable[[EngineEvent], None]

FIRST_QR_TTL = 60.0
NEXT_QR_TTL = 20.0
QR_CODES = 6
"""whatsmeow's server hands out six QR references: 60 s for the first, 20 s each after."""
HANDLER_GATE_TIMEOUT = 30.0
PING_GATE_TIMEOUT = 1.0
"""Well under the server's wait for a ping's answer (``NeonizeEngine.stop_timeout``)."""
PAIRING_WAIT = 30.0


class LibraryGate:
    """The one lock every library call in a worker process takes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def hold(self, timeout: float = -1) -> Iterator[None]:
        if not self._lock.acquire(timeout=timeout):
            raise EngineError("engine_busy", "the engine library stayed busy")
        try:
            yield
        finally:
            self._lock.release()


class WorkerSession:
    def __init__(
        self,
        spec: base.SessionSpec,
        *,
        uuid: str,
        store: str,
        gate: LibraryGate,
        emit: Emit,
        on_end: Callable[[WorkerSession], None],
        proxy: str | None = None,
        stagger: float = 0.5,
        max_media_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.spec = spec
        self.uuid = uuid
        self.store = store
        self.gate = gate
        self._emit = emit
        self._on_end = on_end
        self._proxy = proxy
        self._stagger = stagger
        self.max_media_bytes = max_media_bytes
        self.client: Any = None
        self.connected = False
        self._ended = threading.Event()
        self._signal = threading.Event()
        self._qr_index = 0
        self._qr_deadline: float | None = None
        self._pairing_issued = False
        self._pair_waiters: list[tuple[str, concurrent.futures.Future[base.PairingCode]]] = []
        self._lock = threading.Lock()

    @property
    def session_id(self) -> str:
        return self.spec.session_id

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    # ------------------------------------------------------------ start

    def create_client(self, jid: str | None) -> Any:
        """Build the (not yet connected) client and install every handler. No FFI call."""
        from neonize.client import NewClient

        client = NewClient(self.store, uuid=self.uuid, new_device=not self.spec.resume)
        # Set after construction: passing jid= would make neonize key the session by the
        # phone number, so two connections of one number in a worker would collide.
        client.jid = convert.make_jid(jid) if jid else None
        install_handlers(client, self)
        self.client = client
        return client

    def start(self, jid: str | None) -> None:
        """Start connecting; holds the gate until the library has registered the session."""
        with self.gate.hold():
            client = self.create_client(jid)
            thread = threading.Thread(target=self._run, args=(client,), daemon=True,
                                      name=f"neonize:{self.session_id}")
            thread.start()
            # The Go side writes its global maps while a session starts; a stagger keeps
            # every other library call (and the next start) out of that window.
            self._signal.wait(self._stagger)

    def _run(self, client: Any) -> None:
        from neonize._binder import ProxySettings

        error = ""
        try:
            client.connect(ProxySettings(proxy_address=self._proxy) if self._proxy else None)
        except Exception as exc:  # the library raises plain exceptions with Go's message
            error = str(exc) or type(exc).__name__
        self._signal.set()
        reason = f"connect failed: {error}" if error else "the connection ended"
        self.finish(Disconnected(self.session_id, reason=reason, retryable=True))

    # ------------------------------------------------------------ lifecycle

    def finish(self, event: EngineEvent | None) -> bool:
        """Report ``event`` (the drop) once, stop the client, leave the worker."""
        with self._lock:
            if self._ended.is_set():
                return False
            self._ended.set()
            waiters, self._pair_waiters = self._pair_waiters, []
        for _, future in waiters:
            future.set_exception(EngineError("not_linking", "the session ended"))
        if event is not None:
            self._emit(event)
        threading.Thread(target=self._stop, daemon=True,
                         name=f"neonize-stop:{self.session_id}").start()
        self._on_end(self)
        return True

    def close(self) -> None:
        """Stop without an event (the caller asked); blocks until the library stopped."""
        with self._lock:
            already = self._ended.is_set()
            self._ended.set()
        self._signal.set()
        if not already:
            self._on_end(self)
        self._stop()

    def _stop(self) -> None:
        client, self.client = self.client, None
        self.connected = False
        if client is None:
            return
        with self.gate.hold():
            client.stop()

    # ------------------------------------------------------------ handlers

    def guard(self, name: str, func: Callable[[], None]) -> None:
        """Run a handler body; an exception is logged and reported, never swallowed."""
        self._signal.set()
        if self._ended.is_set():
            return
        try:
            func()
        except Exception as exc:
            log.exception("neonize handler %s failed", name,
                          extra={"session_id": self.session_id})
            self._emit(EngineFault(self.session_id, code="handler_error",
                                        message=f"{name}: {type(exc).__name__}: {exc}"))

    def emit(self, event: EngineEvent | None) -> None:
        if event is not None and not self._ended.is_set():
            self._emit(event)

    def on_qr(self, data: bytes) -> None:
        if self._pairing_issued:
            return
        self._qr_index += 1
        now = time.time()
        ttl = FIRST_QR_TTL if self._qr_index == 1 else NEXT_QR_TTL
        if self._qr_index == 1:
            self._qr_deadline = now + FIRST_QR_TTL + NEXT_QR_TTL * (QR_CODES - 1)
        code = data.decode() if isinstance(data, bytes) else str(data)
        self.emit(QrIssued(self.session_id, code=code,
                                expires_at=datetime.fromtimestamp(now + ttl, UTC),
                                index=self._qr_index, total=max(QR_CODES, self._qr_index)))
        with self._lock:
            waiters, self._pair_waiters = self._pair_waiters, []
        for phone, future in waiters:
            # neonize's paircode callback never fires; PairPhone from inside the first QR
            # callback is the point where the socket is up and the session registered.
            try:
                future.set_result(self._pair(phone))
            except Exception as exc:
                future.set_exception(exc)

    def on_login_status(self, status: str) -> None:
        if status == "timeout":
            reason = "pairing_timeout" if self._pairing_issued else "qr_timeout"
            self.finish(LinkTimedOut(self.session_id, reason=reason))
        elif status == "err-client-outdated":
            self.finish(ClientOutdated(self.session_id))
        elif status.startswith("err"):
            self.finish(ConnectFailure(self.session_id, reason=f"link failed: {status}"))

    def on_paired(self, ev: Any) -> None:
        event = convert.paired_event(self.session_id, ev)
        if isinstance(event, Paired):
            self.spec = base.SessionSpec(self.session_id, self.spec.organization_id,
                                         resume=True, jid=event.jid,
                                         push_name=self.spec.push_name)
        self.emit(event)

    def on_connected(self) -> None:
        client = self.client
        if client is None:
            return
        with self.gate.hold(HANDLER_GATE_TIMEOUT):
            device = client.me if client.me is not None else client.get_me()
        self.connected = True
        self.emit(convert.connected_event(self.session_id, device))

    def on_group_change(self, ev: Any) -> None:
        client = self.client
        event: GroupInfo | None
        try:
            with self.gate.hold(HANDLER_GATE_TIMEOUT):
                info = client.get_group_info(convert.make_jid(convert.jid_str(ev.JID)))
            event = convert.group_info(self.session_id, info)
        except Exception as exc:
            log.warning("could not fetch group %s: %s", convert.jid_str(ev.JID), exc)
            event = convert.group_change_event(self.session_id, ev)
        self.emit(event)
        own = convert_groups.own_users(client.me)
        for change in convert_groups.group_change_events(self.session_id, ev, own):
            self.emit(change)

    def on_picture(self, ev: Any) -> None:
        own = convert_groups.own_users(self.client.me)
        self.emit(convert_groups.picture_event(self.session_id, ev, own))

    # ------------------------------------------------------------ operations

    def _live(self) -> Any:
        client = self.client
        if client is None or self._ended.is_set():
            raise SessionNotRunning(self.session_id)
        return client

    def ready_client(self) -> Any:
        """The client of a connected session (group operations run on it)."""
        return self._ready()

    def _ready(self) -> Any:
        client = self._live()
        if not self.connected:
            raise SessionNotRunning(self.session_id)
        return client

    def pairing_code(self, phone: str) -> base.PairingCode:
        self._live()
        if self.spec.resume or self.connected:
            raise EngineError("already_linked", "the session is linked already",
                                   permanent=True)
        if self._qr_index > 0:
            return self._pair(phone)
        future: concurrent.futures.Future[base.PairingCode] = concurrent.futures.Future()
        with self._lock:
            self._pair_waiters.append((phone, future))
        try:
            return future.result(PAIRING_WAIT)
        except concurrent.futures.TimeoutError as exc:
            raise EngineError("link_not_ready", "no link request from WhatsApp yet") from exc

    def _pair(self, phone: str) -> base.PairingCode:
        from neonize.utils.enum import ClientName

        client = self._live()
        with self.gate.hold(HANDLER_GATE_TIMEOUT):
            code = client.PairPhone(phone, True, ClientName.LINUX)
        self._pairing_issued = True
        code = code if "-" in code or len(code) != 8 else f"{code[:4]}-{code[4:]}"
        deadline = self._qr_deadline or time.time() + FIRST_QR_TTL
        return base.PairingCode(code=code, expires_at=datetime.fromtimestamp(deadline, UTC))

    def logout(self) -> None:
        client = self.client
        if client is not None and self.connected and not self._ended.is_set():
            with self.gate.hold():
                client.logout()
        self.close()

    def send(self, msg: base.OutgoingMessage) -> base.SendResult:
        from neonize.utils.enum import MediaType

        client = self._ready()

        def upload(data: bytes, kind: int) -> Any:
            with self.gate.hold():
                return client.upload(data, MediaType(kind))

        message = outgoing.build_message(msg, upload, max_media_bytes=self.max_media_bytes)
        with self.gate.hold():
            response = client.send_message(convert.make_jid(msg.to_jid), message)
        sent_at = (datetime.fromtimestamp(response.Timestamp, UTC) if response.Timestamp
                   else datetime.now(UTC))
        # neonize 0.5.2's SendMessage export takes no id (README.md, "Limits"): the id
        # WhatsApp got is whatsmeow's, returned here.
        return base.SendResult(wa_message_id=response.ID or msg.wa_message_id, timestamp=sent_at)

    def mark_read(self, chat_jid: str, message_ids: list[str], sender_jid: str | None) -> None:
        from neonize.utils.enum import ReceiptType

        client = self._ready()
        with self.gate.hold():
            client.mark_read(*message_ids, chat=convert.make_jid(chat_jid),
                             sender=convert.make_jid(sender_jid or chat_jid),
                             receipt=ReceiptType.READ)

    def presence(self, chat_jid: str, presence: ChatPresence) -> None:
        from neonize.utils.enum import ChatPresence, ChatPresenceMedia

        client = self._ready()
        state = (ChatPresence.CHAT_PRESENCE_PAUSED if presence is ChatPresence.PAUSED
                 else ChatPresence.CHAT_PRESENCE_COMPOSING)
        media = (ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO
                 if presence is ChatPresence.RECORDING
                 else ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT)
        with self.gate.hold():
            client.send_chat_presence(convert.make_jid(chat_jid), state, media)

    def check_numbers(self, phones: list[str]) -> list[base.NumberCheck]:
        client = self._ready()
        with self.gate.hold():
            answers = client.is_on_whatsapp(*[f"+{phone}" for phone in phones])
        by_digits = {"".join(ch for ch in a.Query if ch.isdigit()): a for a in answers}
        checks = []
        for phone in phones:
            answer = by_digits.get(phone)
            on = bool(answer is not None and answer.IsIn)
            jid = convert.jid_str(answer.JID) if on and answer is not None else None
            checks.append(base.NumberCheck(phone=phone, on_whatsapp=on, jid=jid or None))
        return checks

    def groups(self) -> list[GroupInfo]:
        client = self._ready()
        with self.gate.hold():
            groups = client.get_joined_groups()
        return [convert.group_info(self.session_id, group) for group in groups]

    def download(self, media: MediaRef) -> bytes:
        client = self._ready()
        if media.size is not None and media.size > self.max_media_bytes:
            raise EngineError("media_too_large",
                                   f"{media.size} bytes exceeds the {self.max_media_bytes} limit",
                                   permanent=True)
        message = convert.media_message(media.handle)
        with self.gate.hold():
            data: bytes = client.download_any(message)
        if len(data) > self.max_media_bytes:
            raise EngineError("media_too_large", "downloaded media exceeds the limit",
                                   permanent=True)
        return data

    def ping(self) -> bool:
        client = self.client
        if client is None or self._ended.is_set() or not self.connected:
            return False
        try:
            with self.gate.hold(PING_GATE_TIMEOUT):
                return bool(client.is_connected and client.is_logged_in)
        except EngineError as exc:
            if exc.code != "engine_busy":
                raise
        # Another session of this worker holds the library (a media upload, a send
        # awaiting its ack). That says nothing about this session; answering "dead"
        # would make the health check reconnect every number of a busy worker.
        return True


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
    on(ev.DisconnectedEv, "disconnected", terminal(
        lambda _m: Disconnected(sid, reason="connection to WhatsApp lost", retryable=True)))
    on(ev.LoggedOutEv, "logged_out", terminal(lambda m: convert.logged_out_event(sid, m)))
    on(ev.StreamReplacedEv, "stream_replaced", terminal(lambda _m: StreamReplaced(sid)))
    on(ev.TemporaryBanEv, "temporary_ban", terminal(lambda m: convert.temporary_ban_event(sid, m)))
    on(ev.ConnectFailureEv, "connect_failure",
       terminal(lambda m: convert.connect_failure_event(sid, m)))
    on(ev.ClientOutdatedEv, "client_outdated", terminal(lambda _m: ClientOutdated(sid)))
    on(ev.KeepAliveTimeoutEv, "keepalive_timeout",
       lambda _m: session.emit(KeepAlive(sid, ok=False)))
    on(ev.KeepAliveRestoredEv, "keepalive_restored",
       lambda _m: session.emit(KeepAlive(sid, ok=True)))
    on(ev.MessageEv, "message", lambda m: session.emit(convert.message_event(sid, m)))
    on(ev.ReceiptEv, "receipt", lambda m: session.emit(convert.receipt_event(sid, m)))
    on(ev.HistorySyncEv, "history_sync", history)
    on(ev.GroupInfoEv, "group_info", session.on_group_change)
    on(ev.JoinedGroupEv, "joined_group",
       lambda m: session.emit(convert.group_info(sid, m.GroupInfo)))
    on(ev.PictureEv, "picture", session.on_picture)
    on(ev.PresenceEv, "presence", lambda m: session.emit(convert.presence_event(sid, m)))

    def on_qr(_client: Any, data: bytes) -> None:
        session.guard("qr", lambda: session.on_qr(data))

    client.qr(on_qr)

    def on_login_status(_uuid: int, status: int) -> None:
        # neonize prints these to stdout; the login "timeout" is the QR rotation's end.
        text = ctypes.string_at(status).decode() if isinstance(status, int) else str(status)
        session.guard("login_status", lambda: session.on_login_status(text))

    client._NewClient__onLoginStatus = on_login_status

