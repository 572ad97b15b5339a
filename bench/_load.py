"""The send benchmarks' load generator: wrk when it is on PATH, else Python clients.

Both keep ``clients`` keep-alive connections busy (a closed loop: each sends its next
request when the last one is answered), spread evenly over the servers' URLs, and count
as accepted only 2xx answers; anything else (another status, a dropped connection, a
timeout) is an error. Nothing is counted during the warm-up. Beside the figures: the
CPU each server process, PostgreSQL's backends for the run's database (when there is
one) and the generator itself used during the measured seconds, and how long the
servers and backends waited for a core meanwhile (bench/_cpu.py; wrk's CPU from the
kernel's account when it is reaped), in percent of one core.

- **wrk** (``bench/send.lua``, two threads: see below) costs about 20 µs of CPU per
  request, so nearly all of the machine is left to the servers and PostgreSQL. The
  warm-up is a wrk run of its own; latency percentiles come from wrk's histogram of the
  measured run. wrk records the latency of every completed answer, whatever its status.
- **Python** (the fallback): a minimal keep-alive client (bench/_http.py) in two or more
  spawned processes, on uvloop, about 30 µs of CPU per request (httpx, before it, cost
  about a millisecond and measured itself).

**wrk threads: two.** wrk needs a CPU only for microseconds per request, but it needs
it at once: while its thread waits for a core, none of its connections sends. On this
two-core machine shared with other work (load average 5), one node, ``GET /healthz``
at 64 connections, alternating in one server's lifetime: ``-t1`` gave 2,873, 3,072 and
5,452 requests/s (the node at 38-65 % of a core), ``-t2`` 5,756, 7,043 and 7,070/s (the
node at 70-83 %); wrk itself used 5-9 % and 10-13 %. On a quiet machine (load average
0.6) ``-t1`` too reached 7,274/s, the node at 100 %. So two threads by
default (``--wrk-threads``), for one node as for two: wrk connects each thread to one
address, thread *i* to node *i* mod *n*, so each of two nodes gets one thread and half
the connections, and the generator is the same in both measurements. More threads than
cores would only add threads competing with the servers.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop

from bench._cpu import Meter, Used, cpu_seconds
from bench._http import RawClient
from bench._server import percentile

LUA = Path(__file__).with_name("send.lua")
WRK_THREADS = 2
"""wrk threads unless told (see the module's docstring)."""
PYTHON_PROCESSES = 2
"""Python client processes at least: one per core of the benchmark machine."""
SPAWN_ALLOWANCE = 3.0
"""Seconds for spawned Python clients to start; they warm up until the measure starts."""


def generator_name(requested: str = "auto") -> str:
    """``wrk`` if asked for or on PATH (when ``auto``), else ``python``."""
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if requested == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("wrk is not on PATH")
    return requested


def run(
    urls: list[str],
    headers: dict[str, str],
    *,
    kind: str = "send",
    clients: int = 64,
    duration: float = 10.0,
    warmup: float = 1.0,
    server_pids: list[int],
    database_pids: Callable[[], list[int]] | None = None,
    after_warmup: Callable[[], None] | None = None,
    generator: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """Load ``urls`` (``kind`` ``send`` or ``health``); the figures as one dict.

    ``database_pids`` lists the database's own processes serving the run (PostgreSQL's
    backends), asked when the measure starts and when it ends; ``after_warmup`` runs
    between the warm-up and the measure."""
    cpu = Meter(server_pids, database_pids)
    between = after_warmup or (lambda: None)
    if generator_name(generator) == "wrk":
        figures = _wrk(urls, headers, kind, clients, duration, warmup, cpu, between, threads)
    else:
        figures = _python(urls, headers, kind, clients, duration, warmup, cpu, between)
    if database_pids is None:
        del figures["database_cpu_percent"], figures["database_cpu_wait_percent"]
    return figures


def _figures(
    generator: str,
    accepted: int,
    seconds: float,
    p50_s: float,
    p99_s: float,
    errors: int,
    used: Used,
    generator_cpu: float,
    wall: float,
) -> dict[str, Any]:
    return {
        "generator": generator,
        "accepted": accepted,
        "accepted_per_second": round(accepted / seconds, 1),
        "p50_ms": round(p50_s * 1000, 2),
        "p99_ms": round(p99_s * 1000, 2),
        "errors": errors,
        **used.percent(wall),
        "generator_cpu_percent": round(100 * generator_cpu / wall, 1),
    }


# -- wrk --------------------------------------------------------------------------------


def _wrk(
    urls: list[str],
    headers: dict[str, str],
    kind: str,
    clients: int,
    duration: float,
    warmup: float,
    cpu: Meter,
    between: Callable[[], None],
    threads: int | None,
) -> dict[str, Any]:
    threads = threads or max(WRK_THREADS, len(urls))
    if threads % len(urls):
        raise ValueError("wrk threads must be a multiple of the servers' count")
    env = {
        **os.environ,
        "BENCH_KIND": kind,
        "BENCH_AUTH": headers.get("Authorization", ""),
        "BENCH_ADDRS": ",".join(urlsplit(u).netloc for u in urls),
    }

    def command(seconds: float) -> list[str]:
        return [
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            urls[0],
        ]

    if warmup > 0:
        subprocess.run(command(warmup), env=env, check=True, capture_output=True)
    between()
    cpu.start()
    started = time.monotonic()
    proc = subprocess.Popen(command(duration), env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    # wrk's own CPU time as the kernel accounts it when it is reaped (its /proc entry
    # is gone by then): exact, where reading /proc just before its exit is not.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    used = cpu.stop()
    wrk_cpu = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {output}")
    line = next(x for x in output.splitlines() if x.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    socket_errors = sum(raw["socket_errors"].values())
    figures = _figures(
        f"wrk -t{threads} -c{clients}",
        raw["accepted"],
        raw["duration_us"] / 1e6,
        raw["latency_us"]["p50"] / 1e6,
        raw["latency_us"]["p99"] / 1e6,
        sum(raw["non_2xx"].values()) + socket_errors,
        used,
        wrk_cpu,
        wall,
    )
    figures["error_kinds"] = {**raw["non_2xx"], **raw["socket_errors"]}
    return figures


# -- Python -----------------------------------------------------------------------------

Job = tuple[str, str, dict[str, str], int, float, float, int]
"""url, kind, headers, clients, measure from and stop at (``time.time()``), worker."""


async def _clients(args: Job) -> dict[str, Any]:
    url, kind, headers, clients, measure_at, stop_at_wall, worker = args
    offset = time.perf_counter() - time.time()
    measure_from, stop_at = measure_at + offset, stop_at_wall + offset
    latencies: list[float] = []
    errors = 0
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80

    async def cpu_at(moment: float) -> float:
        await asyncio.sleep(max(0.0, moment - time.perf_counter()))
        return cpu_seconds(os.getpid())

    async def client(n: int) -> None:
        nonlocal errors
        http = RawClient(host, port, headers)
        i = 0
        while time.perf_counter() < stop_at:
            i += 1
            started = time.perf_counter()
            try:
                if kind == "send":
                    to = f"5511{(worker * 1000 + n) % 10000:04d}{i % 1000:03d}01"
                    status, _ = await http.request(
                        "POST", "/api/v1/messages", {"to": to, "text": f"bench {i}"}
                    )
                else:
                    status, _ = await http.request("GET", "/healthz")
                ok = 200 <= status < 300
            except OSError:
                # A dropped connection is a failed request, counted like an error answer.
                ok = False
            if started < measure_from:
                continue  # warm-up
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
        await http.close()

    first = asyncio.ensure_future(cpu_at(measure_from))
    last = asyncio.ensure_future(cpu_at(stop_at))
    await asyncio.gather(*(client(n) for n in range(clients)))
    cpu = await last - await first
    return {"latencies": latencies, "errors": errors, "cpu": cpu}


def _worker(args: Job) -> dict[str, Any]:
    uvloop.install()
    return asyncio.run(_clients(args))


def _python(
    urls: list[str],
    headers: dict[str, str],
    kind: str,
    clients: int,
    duration: float,
    warmup: float,
    cpu: Meter,
    between: Callable[[], None],
) -> dict[str, Any]:
    processes = max(PYTHON_PROCESSES, len(urls))
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    measure_at = time.time() + SPAWN_ALLOWANCE + warmup
    stop_at = measure_at + duration
    jobs = [
        (urls[i % len(urls)], kind, headers, n, measure_at, stop_at, i)
        for i, n in enumerate(per)
        if n
    ]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        pending = pool.map_async(_worker, jobs)
        # The clients warm up until measure_at: ``between`` runs during their warm-up.
        time.sleep(max(0.0, measure_at - warmup / 2 - time.time()))
        between()
        time.sleep(max(0.0, measure_at - time.time()))
        cpu.start()
        time.sleep(max(0.0, stop_at - time.time()))
        used = cpu.stop()
        results = pending.get()
    latencies = [x for r in results for x in r["latencies"]]
    return _figures(
        f"python ({len(jobs)} processes, {clients} clients)",
        len(latencies),
        duration,
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
        sum(r["errors"] for r in results),
        used,
        sum(r["cpu"] for r in results),
        duration,
    )
