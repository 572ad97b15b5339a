"""The server's handle on one engine worker process.

:class:`WorkerProcess` spawns ``python -m zapgate.engines.neonize.worker`` with one end
of a socketpair inherited as a file descriptor, waits for its ``hello``, then reads
frames: events go to a callback, replies resolve pending requests, log frames become
records of this process's logging. The worker's stderr (where Go writes its fatal
errors) is logged line by line and its tail explains an unexpected exit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zapgate.domain.errors import EngineError
from zapgate.engines.events import EngineEvent
from zapgate.engines.neonize import protocol
from zapgate.engines.neonize.library import EXIT_UNAVAILABLE, unavailable_message

log = logging.getLogger(__name__)
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    python: str
    data_dir: Path
    database_url: str | None = None
    proxy: str | None = None
    stagger: float = 0.5
    max_media_bytes: int = 64 * 1024 * 1024
    log_level: str = "INFO"
    hello_timeout: float = 30.0


class WorkerExited(EngineError):
    def __init__(
        self, detail: str, *, code: str = "engine_worker_exited", permanent: bool = False
    ) -> None:
        super().__init__(code, detail, permanent=permanent)


class LibraryUnavailable(WorkerExited):
    """The worker could not load neonize: the install needs a person, not a retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(unavailable_message(reason), code="engine_unavailable", permanent=True)


class WorkerProcess:
    def __init__(
        self,
        options: WorkerOptions,
        *,
        on_event: Callable[[EngineEvent], None],
        on_exit: Callable[[WorkerProcess], None],
    ) -> None:
        self.id = next(_ids)
        self.options = options
        self._on_event = on_event
        self._on_exit = on_exit
        self.proc: asyncio.subprocess.Process | None = None
        self.exit_detail = ""
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._request_ids = itertools.count(1)
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._tasks: list[asyncio.Task[Any]] = []
        self._hello: asyncio.Future[dict[str, Any]] | None = None
        self.expected_exit = False
        self.exited = asyncio.Event()

    def bind(
        self, *, on_event: Callable[[EngineEvent], None], on_exit: Callable[[WorkerProcess], None]
    ) -> None:
        """Hand a started worker to a new owner (a warm spare taking over sessions)."""
        self._on_event = on_event
        self._on_exit = on_exit

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and not self.exited.is_set()

    async def spawn(self) -> None:
        """Start the process and wait for its ``hello``; raises :class:`WorkerExited`."""
        opts = self.options
        parent, child = socket.socketpair()
        args = [
            opts.python,
            "-m",
            "zapgate.engines.neonize.worker",
            "--fd",
            str(child.fileno()),
            "--data-dir",
            str(opts.data_dir),
            "--stagger",
            str(opts.stagger),
            "--max-media-bytes",
            str(opts.max_media_bytes),
            "--log-level",
            opts.log_level,
        ]
        if opts.database_url:
            args += ["--database-url", opts.database_url]
        if opts.proxy:
            args += ["--proxy", opts.proxy]
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *args,
                pass_fds=(child.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        finally:
            child.close()
        reader, self._writer = await asyncio.open_connection(sock=parent)
        loop = asyncio.get_running_loop()
        self._hello = loop.create_future()
        self._tasks = [
            loop.create_task(self._read(reader), name=f"neonize-worker-{self.id}:read"),
            loop.create_task(self._read_stderr(), name=f"neonize-worker-{self.id}:stderr"),
            loop.create_task(self._wait(), name=f"neonize-worker-{self.id}:wait"),
        ]
        try:
            hello = await asyncio.wait_for(asyncio.shield(self._hello), opts.hello_timeout)
        except (TimeoutError, WorkerExited) as exc:
            self.kill()
            await self.exited.wait()
            if self.proc.returncode == EXIT_UNAVAILABLE and self._stderr_tail:
                raise LibraryUnavailable(self._stderr_tail[-1]) from exc
            raise WorkerExited(f"worker did not start: {self.exit_detail or exc}") from exc
        log.info("engine worker %s started (pid %s)", self.id, hello.get("pid"))

    async def request(self, op: str, args: dict[str, Any], *, timeout: float) -> Any:
        if not self.alive or self._writer is None:
            raise WorkerExited(f"engine worker {self.id} is not running")
        request_id = next(self._request_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(
                protocol.pack(
                    {"kind": "request", "id": request_id, "op": op, "args": protocol.to_json(args)}
                )
            )
            await self._writer.drain()
            return await asyncio.wait_for(future, timeout)
        except (ConnectionError, OSError) as exc:
            raise WorkerExited(f"engine worker {self.id}: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # failed while we wrote: the error raised says it already

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self, timeout: float) -> None:
        """Ask the worker to stop its sessions and exit; kill it after ``timeout``.

        Requests already in flight (an ``open`` whose session ended at once) are
        answered first.
        """
        self.expected_exit = True
        if self.proc is None:
            return  # never started
        pending = [f for f in self._pending.values() if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        if self.alive:
            with contextlib.suppress(EngineError, TimeoutError):
                await self.request("shutdown", {}, timeout=timeout)
        try:
            await asyncio.wait_for(self.exited.wait(), timeout)
        except TimeoutError:
            self.kill()
            await self.exited.wait()

    # ------------------------------------------------------------ readers

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                header = await reader.readexactly(protocol.HEADER.size)
                body = await reader.readexactly(protocol.unpack_length(header))
                self._dispatch(protocol.parse(body))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except protocol.ProtocolError as exc:
            log.error("engine worker %s broke the protocol: %s; killing it", self.id, exc)
            self.exit_detail = f"protocol error: {exc}"
            self.kill()

    def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["kind"]
        if kind == "event":
            self._on_event(protocol.decode_event(frame["event"]))
        elif kind == "reply":
            future = self._pending.get(frame.get("id", -1))
            if future is not None and not future.done():
                if frame.get("ok"):
                    future.set_result(frame.get("result"))
                else:
                    future.set_exception(protocol.error_from_payload(frame.get("error") or {}))
        elif kind == "log":
            level = frame.get("level", logging.INFO)
            logging.getLogger(str(frame.get("logger", "neonize"))).log(
                level if isinstance(level, int) else logging.INFO,
                "%s",
                frame.get("message"),
                extra={"engine_worker": self.id, "worker_pid": self.pid},
            )
        elif kind == "hello":
            if self._hello is not None and not self._hello.done():
                self._hello.set_result(frame)
        else:
            raise protocol.ProtocolError(f"unknown frame kind {kind!r}")

    async def _read_stderr(self) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                log.warning(
                    "engine worker %s stderr: %s", self.id, line, extra={"engine_worker": self.id}
                )

    async def _wait(self) -> None:
        assert self.proc is not None
        code = await self.proc.wait()
        # Let the stderr reader drain so the reason is in the tail.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._tasks[1]), 1.0)
        if not self.exit_detail:
            self.exit_detail = self._describe(code)
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
        await asyncio.gather(self._tasks[0], self._tasks[1], return_exceptions=True)
        error = WorkerExited(f"engine worker exited ({self.exit_detail})")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(error)
        self.exited.set()
        self._on_exit(self)

    def _describe(self, code: int) -> str:
        if code < 0:
            try:
                what = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                what = f"killed by signal {-code}"
        else:
            what = f"exit code {code}"
        tail = list(self._stderr_tail)
        fatal = next(
            (
                line
                for line in reversed(tail)
                if line.startswith(("fatal error", "panic:", "Traceback", "SIG"))
            ),
            None,
        )
        if fatal is not None and fatal.startswith("Traceback"):
            # Python's own reason is the traceback's last line, not its first.
            fatal = tail[-1]
        elif code == EXIT_UNAVAILABLE and tail:
            fatal = tail[-1]
        return f"{what}: {fatal}" if fatal else what
