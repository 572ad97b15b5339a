"""What processes used of the machine's cores while a benchmark measured, from /proc.

Per process: CPU seconds (utime + stime of ``/proc/<pid>/stat``) and the seconds its
threads were ready to run but waited for a core (the run delay of
``/proc/<pid>/task/*/schedstat``). On a machine shared with other work the first alone
cannot tell a process that had nothing to do from one that waited for a core: a node
at 50 % of a core with 40 % waiting wanted 90 %.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def core_speed() -> float:
    """Seconds one core takes for a fixed pure-Python loop (10 million additions),
    best of three: how fast this machine's cores are now, so figures measured on
    different days (or hosts of the same machine kind) can be compared. The same
    "2 cores" has measured from 0.8 s to 1.7 s here."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 2)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def named_cpu_seconds(name: str) -> float | None:
    """CPU seconds so far of the oldest process named ``name`` (a broker's server:
    RabbitMQ's ``beam.smp``, ``nats-server``); None if there is none."""
    try:
        found = subprocess.run(["pgrep", "-o", name], capture_output=True, text=True, check=True)
        return cpu_seconds(int(found.stdout.split()[0]))
    except (subprocess.CalledProcessError, IndexError, ValueError, OSError):
        return None


def wait_seconds(pid: int) -> float:
    """Seconds the threads of ``pid`` alive now spent ready to run, waiting for a core."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


@dataclass(frozen=True, slots=True)
class Used:
    """Seconds used and waited between :meth:`Meter.start` and :meth:`Meter.stop`."""

    servers: list[tuple[float, float]]
    """(CPU, wait) of each server, in the order given."""
    database: tuple[float, float]
    """(CPU, wait) of the database's processes together."""

    def percent(self, wall: float) -> dict[str, object]:
        def share(seconds: float) -> float:
            return round(100 * seconds / wall, 1)

        return {
            "server_cpu_percent": [share(c) for c, _ in self.servers],
            "server_cpu_wait_percent": [share(w) for _, w in self.servers],
            "database_cpu_percent": share(self.database[0]),
            "database_cpu_wait_percent": share(self.database[1]),
        }


class Meter:
    """What the servers and the database's processes (listed by ``database``, asked at
    :meth:`start` and at :meth:`stop`) used meanwhile."""

    def __init__(self, servers: list[int], database: Callable[[], list[int]] | None) -> None:
        self.servers = servers
        self.database = database or list
        self._servers: list[tuple[float, float]] = []
        self._database: dict[int, tuple[float, float]] = {}

    def start(self) -> None:
        self._database = _usage_of(self.database())
        self._servers = [_usage(pid) for pid in self.servers]

    def stop(self) -> Used:
        """A database process that ended meanwhile is not counted, one that started is
        counted whole."""
        servers = [
            (c - c0, w - w0)
            for (c, w), (c0, w0) in zip(
                (_usage(pid) for pid in self.servers), self._servers, strict=True
            )
        ]
        now = _usage_of(self.database())
        cpu = sum(c - self._database.get(pid, (0.0, 0.0))[0] for pid, (c, _) in now.items())
        wait = sum(w - self._database.get(pid, (0.0, 0.0))[1] for pid, (_, w) in now.items())
        return Used(servers, (cpu, wait))


def _usage(pid: int) -> tuple[float, float]:
    return cpu_seconds(pid), wait_seconds(pid)


def _usage_of(pids: list[int]) -> dict[int, tuple[float, float]]:
    found = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # gone meanwhile
            found[pid] = _usage(pid)
    return found
