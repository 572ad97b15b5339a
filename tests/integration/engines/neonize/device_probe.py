"""A second node's engine worker, asked what the library loaded: run as a process,
``python -m tests.integration.engines.neonize.device_probe RESULT DATABASE_URL JID``.

It builds zapgate's real :class:`Worker` on the PostgreSQL store and opens two sessions
the way the server asks a worker to: one resuming ``JID``, one new (the link path). Both
dial a silent proxy of its own, which accepts and never answers, so they stay alive;
once both dial (the library has registered them) it asks each client for its device
(whatsmeow's ``Store.ID``, LID, push name, platform: neonize's ``get_me``) and writes it,
with the events the sessions reported, as JSON to ``RESULT``. The Go core prints to
stdout, hence a file.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.engines.neonize.silent import SilentProxy
from zapgate.engines import base
from zapgate.engines.neonize import convert, protocol
from zapgate.engines.neonize.worker import Channel, Worker

DIAL_WAIT = 30.0


def device(worker: Worker, session_id: str) -> dict[str, Any]:
    session = worker.sessions[session_id]
    with worker.gate.hold():
        me = session.client.get_me()
    return {
        "jid": convert.jid_str(me.JID, keep_device=True),
        "lid": convert.jid_str(me.LID, keep_device=True),
        "push_name": me.PushName,
        "platform": me.Platform,
    }


def events(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    names = []
    header, offset = protocol.HEADER.size, 0
    while offset + header <= len(data):
        size = protocol.unpack_length(data[offset : offset + header])
        frame = protocol.parse(data[offset + header : offset + header + size])
        offset += header + size
        if frame.get("kind") == "event":
            event = frame["event"]
            names.append(f"{event['fields'].get('session_id')}:{event['name']}")
    return names


def main(result: Path, database_url: str, jid: str) -> None:
    # neonize also opens "file:<store name>" with SQLite before PostgreSQL: keep that
    # stray file in a directory of its own, as the worker's main() does.
    workdir = result.parent / "probe-worker"
    workdir.mkdir(exist_ok=True)
    os.chdir(workdir)
    ours, theirs = socket.socketpair()
    proxy = SilentProxy()
    worker = Worker(
        Channel(ours),
        data_dir=workdir,
        database_url=database_url,
        proxy=proxy.url,
        stagger=0.5,
        max_media_bytes=1 << 20,
    )
    worker.open(base.SessionSpec("resumed", "org", resume=True, jid=jid))
    worker.open(base.SessionSpec("new", "org", resume=False))
    deadline = time.monotonic() + DIAL_WAIT
    while len(proxy.accepted) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    answer: dict[str, Any] = {"dialed": len(proxy.accepted)}
    if len(proxy.accepted) >= 2:
        answer["resumed"] = device(worker, "resumed")
        answer["new"] = device(worker, "new")
    answer["events"] = events(theirs)
    result.write_text(json.dumps(answer))
    # The sessions hang in their dials; the library's stop would wait for them.
    os._exit(0)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
