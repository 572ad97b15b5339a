"""Benchmark the neonize engine's worker processes; prints one JSON object.

- ``rss_per_worker_mib``: resident memory of single-session workers whose session is
  alive (dialing a silent local proxy, since WhatsApp is unreachable offline).
- ``restart_seconds``: SIGKILL of a worker → its session open again on another worker
  (that worker's dial reaches the proxy), with the engine's default warm spare ready
  before each kill (crashes further apart than one worker start).
- ``restart_seconds_cold``: the same without a warm spare (``warm_spare=False``), which
  is also what a crash costs while the spare used up by a previous one is restarting.
- ``rss_idle_spare_mib``: resident memory of the idle warm spare.
- ``loop_latency_ms``: the HTTP server is not part of this benchmark, so instead of
  ``/healthz`` p99 we measure the server process's event-loop responsiveness: the delay
  of a trivial coroutine scheduled every 5 ms while ``--crash-loopers`` workers are
  SIGKILLed as soon as they come back.
- ``sessions_per_worker``: ``--numbers`` sessions opened together (as a restart
  restores them) with each ``--per-worker`` setting, all dialing the silent proxy:
  workers started, their total resident memory (RSS counts the pages workers share
  once per worker; PSS splits them) and the cost per number, with the projection for
  100 numbers (workers and the idle spare; the server process is not included).

Usage: ``python bench/workers.py [--workers 4] [--crash-loopers 20] [--seconds 15]
[--cold-samples 3] [--numbers 10] [--per-worker 1,10] [--only-memory]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from zapgate.engines import base
from zapgate.engines.events import EngineEvent, EngineFault
from zapgate.engines.neonize.engine import NeonizeEngine
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import SystemClock

RSS_TARGET_MIB = 80
RESTART_TARGET_S = 2.0


class SilentProxy:
    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(256)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.server.accept()[0])
            except OSError:
                return


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.005)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float], target: float, digits: int = 3) -> dict[str, object]:
    return {
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
        "samples": len(values),
        "target": target,
    }


async def kill_and_time(engine: NeonizeEngine, proxy: SilentProxy, session_id: str) -> float:
    victim = engine.worker_of(session_id)
    assert victim is not None
    dials = len(proxy.accepted)
    started = time.monotonic()
    os.kill(victim.pid or 0, signal.SIGKILL)
    await until(lambda: len(proxy.accepted) > dials)
    return time.monotonic() - started


async def measure_rss_and_restart(
    data_dir: Path, proxy: SilentProxy, workers: int
) -> dict[str, object]:
    events: list[EngineEvent] = []
    engine = NeonizeEngine(data_dir=data_dir, clock=SystemClock(), proxy=proxy.url)
    await engine.start(events.append)
    try:
        for n in range(workers):
            await engine.open_session(base.SessionSpec(f"rss{n}", "bench", resume=False))
        await until(lambda: len(proxy.accepted) >= workers)
        await until(lambda: engine.spare is not None)
        await asyncio.sleep(1.0)  # let each worker settle after its session started
        rss = [rss_mib(w.pid or 0) for w in engine.workers]
        spare = engine.spare
        spare_rss = rss_mib(spare.pid or 0) if spare is not None else 0.0
        restarts = []
        for n in range(min(workers, 5)):
            await until(lambda: engine.spare is not None)
            restarts.append(await kill_and_time(engine, proxy, f"rss{n}"))
            await asyncio.sleep(0.5)
        return {
            "rss_per_worker_mib": summary(rss, RSS_TARGET_MIB, 1),
            "rss_idle_spare_mib": round(spare_rss, 1),
            "restart_seconds": summary(restarts, RESTART_TARGET_S),
        }
    finally:
        await engine.close()


async def measure_cold_restart(
    data_dir: Path, proxy: SilentProxy, samples: int
) -> dict[str, object]:
    engine = NeonizeEngine(
        data_dir=data_dir, clock=SystemClock(), proxy=proxy.url, warm_spare=False
    )
    await engine.start(lambda _event: None)
    try:
        await engine.open_session(base.SessionSpec("cold", "bench", resume=False))
        await until(lambda: len(proxy.accepted) >= 1)
        restarts = []
        for _ in range(samples):
            await asyncio.sleep(1.0)
            restarts.append(await kill_and_time(engine, proxy, "cold"))
        return {"restart_seconds_cold": summary(restarts, RESTART_TARGET_S)}
    finally:
        await engine.close()


async def measure_loop_under_crash_loops(
    data_dir: Path, proxy: SilentProxy, loopers: int, seconds: float
) -> dict[str, object]:
    events: list[EngineEvent] = []
    engine = NeonizeEngine(
        data_dir=data_dir,
        clock=SystemClock(),
        proxy=proxy.url,
        backoff=BackoffConfig(min_delay=0.2, max_delay=2.0),
    )
    await engine.start(events.append)
    stop = asyncio.Event()
    kills = 0

    async def crasher() -> None:
        nonlocal kills
        while not stop.is_set():
            for worker in list(engine.workers):
                if worker.alive and worker.pid:
                    try:
                        os.kill(worker.pid, signal.SIGKILL)
                        kills += 1
                    except ProcessLookupError:
                        pass
            await asyncio.sleep(0.05)

    try:
        for n in range(loopers):
            await engine.open_session(base.SessionSpec(f"loop{n}", "bench", resume=False))
        lags: list[float] = []
        crash_task = asyncio.create_task(crasher())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            scheduled = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((time.perf_counter() - scheduled - 0.005) * 1000)
        stop.set()
        await crash_task
        return {
            "loop_latency_ms": {
                "note": "event-loop lag of a 5 ms sleep in the server process (stands in "
                "for /healthz p99; the HTTP server is not part of this bench)",
                "p50": round(percentile(lags, 0.50), 2),
                "p99": round(percentile(lags, 0.99), 2),
                "max": round(max(lags), 2),
                "samples": len(lags),
                "crash_looping_workers": loopers,
                "kills": kills,
                "seconds": seconds,
            },
            "crash_loop_faults_reported": sum(isinstance(e, EngineFault) for e in events),
        }
    finally:
        await engine.close()


async def measure_sessions_per_worker(
    data_dir: Path, proxy: SilentProxy, numbers: int, per_worker: int
) -> dict[str, object]:
    engine = NeonizeEngine(
        data_dir=data_dir, clock=SystemClock(), proxy=proxy.url, sessions_per_worker=per_worker
    )
    await engine.start(lambda _event: None)
    try:
        dials = len(proxy.accepted)
        ids = [f"n{per_worker}-{n}" for n in range(numbers)]
        await asyncio.gather(
            *(engine.open_session(base.SessionSpec(sid, "bench", resume=False)) for sid in ids)
        )
        await until(lambda: len(proxy.accepted) >= dials + numbers, timeout=120.0)
        await until(lambda: engine.spare is not None, timeout=60.0)
        await asyncio.sleep(2.0)  # let each worker settle after its sessions started
        workers = engine.workers
        assert all(engine.worker_of(sid) in workers for sid in ids), "a session ended early"
        rss = [rss_mib(w.pid or 0) for w in workers]
        pss = [pss_mib(w.pid or 0) for w in workers]
        spare = engine.spare
        spare_rss = rss_mib(spare.pid or 0) if spare is not None else 0.0
        return {
            "sessions_per_worker": per_worker,
            "numbers": numbers,
            "workers": len(workers),
            "rss_per_worker_mib": round(statistics.median(rss), 1),
            "rss_total_mib": round(sum(rss), 1),
            "pss_total_mib": round(sum(pss), 1),
            "rss_per_number_mib": round(sum(rss) / numbers, 2),
            "pss_per_number_mib": round(sum(pss) / numbers, 2),
            "rss_idle_spare_mib": round(spare_rss, 1),
            "projected_rss_100_numbers_mib": round(sum(rss) / numbers * 100 + spare_rss),
        }
    finally:
        await engine.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--crash-loopers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--cold-samples", type=int, default=3)
    parser.add_argument("--numbers", type=int, default=10)
    parser.add_argument("--per-worker", default="1,10")
    parser.add_argument(
        "--only-memory", action="store_true", help="only the sessions-per-worker part"
    )
    args = parser.parse_args()
    proxy = SilentProxy()
    with tempfile.TemporaryDirectory() as tmp:
        result: dict[str, object] = {"bench": "neonize-workers", "cpus": os.cpu_count()}
        if not args.only_memory:
            result.update(await measure_rss_and_restart(Path(tmp) / "a", proxy, args.workers))
            result.update(await measure_cold_restart(Path(tmp) / "c", proxy, args.cold_samples))
            result.update(
                await measure_loop_under_crash_loops(
                    Path(tmp) / "b", proxy, args.crash_loopers, args.seconds
                )
            )
        result["sessions_per_worker"] = [
            await measure_sessions_per_worker(
                Path(tmp) / f"m{per_worker}", proxy, args.numbers, int(per_worker)
            )
            for per_worker in args.per_worker.split(",")
        ]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
