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
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from zapgate.domain.behaviour import Behaviour
from zapgate.domain.errors import EngineError, SessionNotRunning
from zapgate.engines import base
from zapgate.engines.events import (
    ClientOutdated,
    ConnectFailure,
    Disconnected,
    EngineEvent,
    EngineFault,
    GroupInfo,
    LinkTimedOut,
    Paired,
    QrIssued,
)
from zapgate.engines.neonize import convert, convert_groups
from zapgate.engines.neonize.calls import announce_presence, connect_failure, device_props
from zapgate.engines.neonize.gate import HANDLER_GATE_TIMEOUT, PING_GATE_TIMEOUT, LibraryGate
from zapgate.engines.neonize.handlers import install_handlers

log = logging.getLogger(__name__)

Emit = Callable[[EngineEvent], None]

FIRST_QR_TTL = 60.0
NEXT_QR_TTL = 20.0
QR_CODES = 6
"""whatsmeow's server hands out six QR references: 60 s for the first, 20 s each after."""
PAIRING_WAIT = 30.0


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

        client = NewClient(
            self.store,
            uuid=self.uuid,
            new_device=not self.spec.resume,
            props=device_props(self.spec.behaviour),
        )
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
            thread = threading.Thread(
                target=self._run, args=(client,), daemon=True, name=f"neonize:{self.session_id}"
            )
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
        reason = connect_failure(error, self._proxy) if error else "the connection ended"
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
        threading.Thread(
            target=self._stop, daemon=True, name=f"neonize-stop:{self.session_id}"
        ).start()
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
            log.exception("neonize handler %s failed", name, extra={"session_id": self.session_id})
            self._emit(
                EngineFault(
                    self.session_id,
                    code="handler_error",
                    message=f"{name}: {type(exc).__name__}: {exc}",
                )
            )

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
        self.emit(
            QrIssued(
                self.session_id,
                code=code,
                expires_at=datetime.fromtimestamp(now + ttl, UTC),
                index=self._qr_index,
                total=max(QR_CODES, self._qr_index),
            )
        )
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
            self.spec = replace(self.spec, resume=True, jid=event.jid)
        self.emit(event)

    def on_connected(self) -> None:
        client = self.client
        if client is None:
            return
        with self.gate.hold(HANDLER_GATE_TIMEOUT):
            device = client.me if client.me is not None else client.get_me()
        self.connected = True
        self.emit(convert.connected_event(self.session_id, device))
        if self.spec.behaviour.always_online:
            announce_presence(self, online=True)

    def configure(self, behaviour: Behaviour) -> None:
        before, self.spec = self.spec.behaviour, replace(self.spec, behaviour=behaviour)
        if self.connected and before.always_online != behaviour.always_online:
            announce_presence(self, online=behaviour.always_online)

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

    def on_joined_group(self, ev: Any) -> None:
        """The number is in a new group: its description, and who added it (if not
        itself)."""
        info = convert.group_info(self.session_id, ev.GroupInfo)
        self.emit(info)
        device = self.client.me
        joined = convert_groups.joined_event(self.session_id, ev, device, info, datetime.now(UTC))
        if joined is not None:
            self.emit(joined)

    def on_picture(self, ev: Any) -> None:
        own = convert_groups.own_users(self.client.me)
        self.emit(convert_groups.picture_event(self.session_id, ev, own))

    # ------------------------------------------------------------ operations

    def _live(self) -> Any:
        client = self.client
        if client is None or self._ended.is_set():
            raise SessionNotRunning(self.session_id)
        return client

    @property
    def proxy(self) -> str | None:
        """The proxy this session dials through (media it fetches itself goes there too)."""
        return self._proxy

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
            raise EngineError("already_linked", "the session is linked already", permanent=True)
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
