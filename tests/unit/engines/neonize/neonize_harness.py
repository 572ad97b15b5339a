"""A real, never-connected neonize client wired to a WorkerSession.

Events are pushed through the library's own dispatch (``Event.execute`` with the
serialized bytes and the event code, exactly as the Go side calls it). Only the lowest
FFI calls a test needs are replaced, by :class:`FakeLibrary`; any other FFI call fails.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from neonize.events import EVENT_TO_INT

from zapgate.engines import base
from zapgate.engines.events import EngineEvent
from zapgate.engines.neonize.gate import LibraryGate
from zapgate.engines.neonize.session import WorkerSession


class FakeLibrary:
    """Stands in for neonize's ctypes library object; records every call."""

    def __init__(self, **functions: Any) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._functions = {"Stop": lambda uuid: None, **functions}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._functions:
            raise AttributeError(f"unexpected library call {name}")

        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            return self._functions[name](*args)

        return call

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]


class Harness:
    def __init__(self, spec: base.SessionSpec | None = None, **functions: Any) -> None:
        self.events: list[EngineEvent] = []
        self.ended = threading.Event()
        self.library = FakeLibrary(**functions)
        self.session = WorkerSession(
            spec or base.SessionSpec("s1", "org1", resume=False),
            uuid="s1.1",
            store=":memory:",
            gate=LibraryGate(),
            emit=self.events.append,
            on_end=lambda _s: self.ended.set(),
            max_media_bytes=1024 * 1024,
        )
        self.client = self.session.create_client(None)
        self.client._NewClient__client = self.library

    def push(self, message: Any) -> None:
        """Deliver ``message`` as the Go side does: bytes at an address, with its code."""
        data = message.SerializePartialToString()
        buffer = ctypes.create_string_buffer(data, max(len(data), 1))
        self.client.event.execute(
            b"s1.1", ctypes.addressof(buffer), len(data), EVENT_TO_INT[type(message)]
        )

    def qr(self, code: bytes) -> None:
        """What neonize's private QR hook does with the code Go hands it."""
        self.client.event._qr(self.client, code)

    def login_status(self, status: str) -> None:
        buffer = ctypes.create_string_buffer(status.encode())
        self.client._NewClient__onLoginStatus(0, ctypes.addressof(buffer))

    def wait_stopped(self) -> None:
        for _ in range(200):
            if self.library.named("Stop"):
                return
            threading.Event().wait(0.01)
        raise AssertionError("the client was never stopped")
