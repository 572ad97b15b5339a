"""An engine worker process: ``python -m zapgate.engines.neonize.worker --fd N ...``.

It owns the neonize library for the sessions the supervisor assigns to it and speaks
:mod:`zapgate.engines.neonize.protocol` over the inherited socket ``--fd``. Requests
run on a small thread pool so a slow send never delays a ``close``; every library call
still takes the one :class:`LibraryGate`. File descriptor 1 is redirected to a pipe
whose lines become log records, because the Go core and neonize print to stdout.
If the socket closes (the server went away) the worker stops its sessions and exits.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import re
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from zapgate.domain.behaviour import Behaviour
from zapgate.domain.errors import EngineError, SessionNotRunning
from zapgate.domain.messages import ChatPresence
from zapgate.engines import base
from zapgate.engines.events import EngineEvent, LoggedOut, MediaRef
from zapgate.engines.neonize import convert, group_ops, profile_ops, protocol, requests
from zapgate.engines.neonize.gate import LibraryGate
from zapgate.engines.neonize.library import import_or_exit
from zapgate.engines.neonize.session import WorkerSession

log = logging.getLogger("zapgate.engines.neonize.worker")
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")
SHUTDOWN_STOP_TIMEOUT = 3.0


def sqlite_store_path(data_dir: Path, session_id: str) -> Path:
    """``DATA_DIR/neonize/<session_id>.sqlite3``: one whatsmeow store per connection."""
    return data_dir / "neonize" / f"{_SAFE_ID.sub('_', session_id)}.sqlite3"


def remove_sqlite_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def whatsmeow_postgres_url(database_url: str) -> str:
    """The URL whatsmeow's ``lib/pq`` driver wants for zapgate's PostgreSQL URL.

    neonize picks PostgreSQL when the store name starts with ``postgres``; lib/pq
    knows neither the ``+asyncpg`` suffix nor asyncpg's ``ssl=`` and, unlike asyncpg,
    requires TLS by default, so a local server without TLS gets ``sslmode=disable``.
    """
    url = re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgres://", database_url)
    url = re.sub(r"([?&])ssl=", r"\1sslmode=", url)
    if "sslmode=" not in url:
        host = url.split("@", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        if host in ("", "localhost", "127.0.0.1", "::1"):
            url += ("&" if "?" in url else "?") + "sslmode=disable"
    return url


class Channel:
    """The worker's end of the socket: whole frames in, whole frames out."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._write = threading.Lock()
        self.closed = False

    def send(self, frame: dict[str, Any]) -> None:
        data = protocol.pack(frame)
        with self._write:
            if self.closed:
                return
            try:
                self._sock.sendall(data)
            except OSError:
                self.closed = True

    def receive(self) -> dict[str, Any] | None:
        header = self._read(protocol.HEADER.size)
        if header is None:
            return None
        body = self._read(protocol.unpack_length(header))
        return None if body is None else protocol.parse(body)

    def _read(self, size: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            try:
                chunk = self._sock.recv(min(size - len(chunks), 1 << 20))
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            chunks += chunk
        return bytes(chunks)


class FrameLogHandler(logging.Handler):
    """Sends log records to the server, which logs them with the worker's id."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            self.channel.send(
                {"kind": "log", "level": record.levelno, "logger": record.name, "message": message}
            )
        except Exception:
            self.handleError(record)


def capture_stdout() -> None:
    """Point fd 1 at a pipe; a thread turns each line into a log record."""
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 1)
    os.close(write_fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives forever
    out_log = logging.getLogger("zapgate.engines.neonize.stdout")

    def forward() -> None:
        with open(read_fd, "rb") as pipe:
            for line in pipe:
                text = line.decode(errors="replace").rstrip()
                if text:
                    out_log.info(text)

    threading.Thread(target=forward, daemon=True, name="stdout-forwarder").start()


class Worker:
    def __init__(
        self,
        channel: Channel,
        *,
        data_dir: Path,
        database_url: str | None,
        proxy: str | None,
        stagger: float,
        max_media_bytes: int,
    ) -> None:
        self.channel = channel
        self.data_dir = data_dir
        self.database_url = database_url
        self.proxy = proxy
        self.stagger = stagger
        self.max_media_bytes = max_media_bytes
        self.gate = LibraryGate()
        self.sessions: dict[str, WorkerSession] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self.pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="op")

    # ------------------------------------------------------------ plumbing

    def emit(self, event: EngineEvent) -> None:
        self.channel.send({"kind": "event", "event": protocol.encode_event(event)})

    def serve(self) -> None:
        while True:
            frame = self.channel.receive()
            if frame is None:
                log.warning("server closed the channel; stopping every session")
                self.shutdown()
                return
            if frame.get("kind") != "request":
                log.warning("ignoring frame of kind %r", frame.get("kind"))
                continue
            if frame.get("op") == "shutdown":
                self.shutdown()
                self.channel.send(
                    {"kind": "reply", "id": frame.get("id"), "ok": True, "result": None}
                )
                return
            self.pool.submit(self._handle, frame)

    def _handle(self, frame: dict[str, Any]) -> None:
        request_id = frame.get("id")
        try:
            result = self.dispatch(str(frame.get("op")), frame.get("args") or {})
            reply = {
                "kind": "reply",
                "id": request_id,
                "ok": True,
                "result": protocol.to_json(result),
            }
        except Exception as exc:
            if not isinstance(exc, EngineError):
                log.exception("request %s failed", frame.get("op"))
            reply = {
                "kind": "reply",
                "id": request_id,
                "ok": False,
                "error": protocol.error_payload(exc),
            }
        self.channel.send(reply)

    def shutdown(self) -> None:
        sessions = list(self.sessions.values())
        done = threading.Event()

        def stop_all() -> None:
            for session in sessions:
                session.close()
            done.set()

        threading.Thread(target=stop_all, daemon=True).start()
        # A session stuck in a dial can hold stop() for a minute; the process ends anyway.
        done.wait(SHUTDOWN_STOP_TIMEOUT)

    # ------------------------------------------------------------ operations

    def dispatch(self, op: str, args: dict[str, Any]) -> Any:
        if op not in protocol.OPS:
            raise EngineError("unknown_op", f"unknown operation {op!r}", permanent=True)
        if op == "open":
            return self.open(protocol.decode_dataclass(base.SessionSpec, args["spec"]))
        sid = str(args.get("session_id"))
        if op in ("delete", "logout"):
            # A deleted connection unlinks its device first, as a logout does: the
            # phone's "linked devices" must not keep listing a number zapgate forgot.
            # ``logout`` only asks WhatsApp when connected, then closes (bounded).
            session = self.sessions.get(sid)
            if session is not None:
                session.logout()
            return self.forget_store(sid)
        if op == "close":
            return self.stop_session(sid)
        session = self.sessions.get(sid)
        if op == "ping":
            return session is not None and session.ping()
        if session is None:
            raise SessionNotRunning(sid)
        if op == "configure":
            return session.configure(protocol.decode_dataclass(Behaviour, args["behaviour"]))
        if op == "pairing_code":
            return session.pairing_code(str(args["phone"]))
        if op == "send":
            return requests.send(
                session, protocol.decode_dataclass(base.OutgoingMessage, args["message"])
            )
        if op == "edit":
            return requests.edit(
                session,
                args["chat_jid"],
                args["wa_message_id"],
                args["text"],
                list(args.get("mentions") or ()),
            )
        if op == "revoke":
            return requests.revoke(session, args["chat_jid"], args["wa_message_id"])
        if op == "mark_read":
            return requests.mark_read(
                session, args["chat_jid"], list(args["message_ids"]), args.get("sender_jid")
            )
        if op == "presence":
            return requests.presence(session, args["chat_jid"], ChatPresence(args["presence"]))
        if op == "own_presence":
            return requests.own_presence(session, bool(args["available"]))
        if op == "check_numbers":
            return requests.check_numbers(session, list(args["phones"]))
        if op == "groups":
            return requests.groups(session)
        if op in group_ops.OPS:
            return group_ops.run(session, op, args)
        if op in profile_ops.OPS:
            return profile_ops.run(session, op, args)
        return requests.download(session, protocol.decode_dataclass(MediaRef, args["media"]))

    def store_for(self, session_id: str) -> str:
        if self.database_url:
            return whatsmeow_postgres_url(self.database_url)
        path = sqlite_store_path(self.data_dir, session_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    def open(self, spec: base.SessionSpec) -> None:
        with self._lock:
            if spec.session_id in self.sessions:
                raise EngineError("already_open", f"session {spec.session_id} is running")
            self._generation += 1
            session = WorkerSession(
                spec,
                uuid=f"{spec.session_id}.{self._generation}",
                store=self.store_for(spec.session_id),
                gate=self.gate,
                emit=self.emit,
                on_end=self._ended,
                proxy=spec.behaviour.proxy_url or self.proxy,
                stagger=self.stagger,
                max_media_bytes=self.max_media_bytes,
            )
            self.sessions[spec.session_id] = session
        try:
            jid = self.resume_jid(spec)
        except LookupError as exc:
            session.finish(LoggedOut(spec.session_id, reason=str(exc)))
            return
        session.start(jid)

    def _ended(self, session: WorkerSession) -> None:
        with self._lock:
            if self.sessions.get(session.session_id) is session:
                del self.sessions[session.session_id]

    def stop_session(self, session_id: str) -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            session.close()

    def forget_store(self, session_id: str) -> None:
        if not self.database_url:
            remove_sqlite_store(sqlite_store_path(self.data_dir, session_id))

    def resume_jid(self, spec: base.SessionSpec) -> str | None:
        """The stored device to resume, or None for a new device; LookupError if missing.

        Never hands neonize a JID its store does not hold: that is a Go panic.
        """
        if not spec.resume:
            return None
        if not self.database_url and not sqlite_store_path(self.data_dir, spec.session_id).exists():
            raise LookupError("no stored credentials for this session")
        stored = self.stored_devices(self.store_for(spec.session_id))
        if spec.jid:
            user, server, device = convert.parse_jid(spec.jid)
            for jid in stored:
                s_user, s_server, s_device = convert.parse_jid(jid)
                if (s_user, s_server) == (user, server) and (not device or device == s_device):
                    return jid
            raise LookupError(f"{spec.jid} is not in the engine's credential store")
        if not self.database_url and len(stored) == 1:
            return stored[0]
        raise LookupError("no stored credentials for this session")

    def stored_devices(self, store: str) -> list[str]:
        """Device JIDs in a store, parsed here: neonize's own parser mangles ``user:device``."""
        from neonize._binder import func_callback_bytes2, gocode
        from neonize.utils import log_whatsmeow

        callback = func_callback_bytes2(log_whatsmeow)
        with self.gate.hold():
            raw = gocode.GetAllDevices(store.encode(), callback)
        text = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        return [item.split(",", 1)[0] for item in text.split("|\u0001|") if item.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="zapgate.engines.neonize.worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--proxy", default=None)
    parser.add_argument("--stagger", type=float, default=0.5)
    parser.add_argument("--max-media-bytes", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    channel = Channel(socket.socket(fileno=args.fd))
    level = logging.getLevelName(args.log_level.upper())
    level = level if isinstance(level, int) else logging.INFO
    root = logging.getLogger()
    root.handlers[:] = [FrameLogHandler(channel)]
    root.setLevel(level)
    capture_stdout()
    data_dir = args.data_dir.resolve()
    workdir = data_dir / "neonize"
    workdir.mkdir(parents=True, exist_ok=True)
    # neonize also opens "file:<store name>" with SQLite before trying PostgreSQL;
    # a relative working directory keeps that stray file inside our data directory.
    os.chdir(workdir)
    import_or_exit(level)
    channel.send({"kind": "hello", "pid": os.getpid(), "version": protocol.VERSION})
    worker = Worker(
        channel,
        data_dir=data_dir,
        database_url=args.database_url,
        proxy=args.proxy,
        stagger=args.stagger,
        max_media_bytes=args.max_media_bytes,
    )
    worker.serve()
    logging.shutdown()
    # Go's threads and neonize's non-daemon connect threads must not keep us alive.
    os._exit(0)


if __name__ == "__main__":
    main()
