"""The one lock around the neonize library in a worker process.

The Go core keeps clients in unsynchronized global maps: two library calls at once can
abort the whole process, so every call, from an operation or a callback, takes it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from zapgate.domain.errors import EngineError

HANDLER_GATE_TIMEOUT = 30.0
PING_GATE_TIMEOUT = 1.0
"""Well under the server's wait for a ping's answer (``NeonizeEngine.stop_timeout``)."""


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
