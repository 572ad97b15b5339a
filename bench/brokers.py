"""Event exports under load: N events to RabbitMQ and NATS JetStream, with a failing
webhook beside them.

This process runs the zapgate runtime (SQLite by default) with three destinations in
one organization: an export to the machine's RabbitMQ (a topic exchange and a queue
bound to all of it, made here and deleted afterwards), an export to its NATS JetStream
(a stream of its own, deleted afterwards), and a webhook whose endpoint answers 500 to
everything (uvicorn in a child process, as a remote receiver would be). Events are
written in transactions of 200 (``--per-transaction``; staged: one INSERT of events per
transaction, on the event loop, as the group commits of the send path, up to 200
accepts, and of the inbound path, up to 1,024 messages, write them under load), as fast
as this process can; each also writes its three delivery rows (fan-out). Until
2026-12-06 the transactions were of 50, which held the producer itself under 5,000
events/s on the development machine.

Measured, per broker:

- ``lag``: from the commit of an event's transaction (the database's after-commit hook)
  to the moment its export worker holds the broker's confirmation (RabbitMQ publisher
  confirm, JetStream ack) for the batch it was in: a thin wrapper around the export's
  transport notes when ``send`` returns, so the time of recording the outcome is not in
  it (it delays the next batch, and so shows in the lag of later events).
- ``events_per_second``: events confirmed / (last confirmation - first commit). Under
  ``--backlog`` the exports publish nothing until every event is written (their
  transports wait; the claims and the failing webhook run as usual), and this is events
  confirmed / (last confirmation - end of writing): how fast an export drains a
  backlog, which the producer's pace cannot cap; lags are not reported then.
- ``at_broker``: messages the queue / stream holds at the end (every event once:
  JetStream drops a copy with a known ``Nats-Msg-Id``; RabbitMQ would keep one).
- ``batches``, ``seconds_publishing``: the export's publishes and the time from the
  first publish of each to its last confirmation (summed: batches in flight at once
  overlap); the rest of the wall time is the claim, the outcome's commit and waiting
  for the event loop.
- ``cpu_seconds_of_others``: over the same span, the CPU time of the failing
  webhook's receiver (a child process) and of each broker's own server, which share the
  machine's cores with this process.
- ``cpu_seconds``: CPU time of this process (all its threads) from the first write to
  the last confirmation (or the deadline): producing, fanning out, claiming,
  publishing and recording for the three destinations. On a shared machine the wall
  time depends on the other load; this does much less.

The webhook keeps the production retry policy (10 s, doubling): each event's delivery
to it is tried and fails once during the run, as it would in production.

The event loop is uvloop and the collector tuned as ``zapgate serve`` runs them.
Prints one JSON object. Usage: python -m bench.brokers [--events 20000]
    [--per-transaction 200] [--database-url postgresql+asyncpg://...] [--deadline 120]
    [--profile FILE] [--without-failing-webhook] [--backlog] [--brokers rabbitmq,nats]

``--brokers rabbitmq`` (or ``nats``) makes that export alone, beside the failing
webhook: the target is per broker, and with both the two clients and RabbitMQ's own
server share the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing as mp
import os
import pstats
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from sqlalchemy import func, select

from bench._brokers import NATS_URL, RABBITMQ_URL, Brokers
from bench._cpu import core_speed, cpu_seconds, named_cpu_seconds
from zapgate.config import Settings
from zapgate.domain.events import Event
from zapgate.domain.roles import Role
from zapgate.events.log import flush_staged, stage_event
from zapgate.exports.transports import transports
from zapgate.runtime import Runtime
from zapgate.services.context import Principal
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.webhooks import WebhookAttemptRow, WebhookDeliveryRow, WebhookRow
from zapgate.util.gc import tune_for_server
from zapgate.util.secretbox import SecretBox
from zapgate.webhooks.attempts import Attempt
from zapgate.webhooks.claims import Due
from zapgate.webhooks.transport import KIND_HTTP, Endpoint, Transport

PER_TRANSACTION = 200
KINDS = ("rabbitmq", "nats")

# ---------------------------------------------------------------- failing receiver (child)


def _failing_main(conn: Connection, sock: socket.socket) -> None:
    parent = os.getppid()
    count = [0]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        count[0] += 1
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"down for maintenance"})

    async def main() -> None:
        config = uvicorn.Config(
            app, lifespan="off", log_config=None, log_level="error", access_log=False
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        conn.send("ready")
        while not conn.poll():
            if os.getppid() != parent:  # the benchmark died: do not linger
                return
            await asyncio.sleep(0.05)
        conn.recv()
        conn.send(count[0])
        server.should_exit = True
        await task

    uvloop.run(main())


# ---------------------------------------------------------------- timing


class Clocked:
    """An export's transport that notes when each event's confirmation was in hand, and
    how many batches it sent and how long they took (publish to last confirmation)."""

    def __init__(self, inner: Transport, acked: dict[int, float], gate: asyncio.Event) -> None:
        self._inner = inner
        self._acked = acked
        self._gate = gate
        self.batches = 0
        self.sending = 0.0

    @property
    def batch(self) -> int:
        return self._inner.batch

    @property
    def depth(self) -> int:
        return self._inner.depth

    async def send(self, dues: Sequence[Due], *, now: datetime) -> list[Attempt]:
        await self._gate.wait()
        started = time.perf_counter()
        attempts = await self._inner.send(dues, now=now)
        at = time.perf_counter()
        self.batches += 1
        self.sending += at - started
        for attempt in attempts:
            if attempt.ok:
                self._acked.setdefault(attempt.due.event_id, at)
        return attempts

    def update(self, endpoint: Endpoint) -> None:
        self._inner.update(endpoint)

    async def aclose(self) -> None:
        await self._inner.aclose()


BROKER_SERVERS = {"rabbitmq": "beam.smp", "nats": "nats-server"}


def _others_cpu(receiver: int | None, kinds: Sequence[str]) -> dict[str, float | None]:
    """CPU seconds so far of the other processes the run keeps busy on the same
    cores: the failing webhook's receiver and each broker's server."""
    found: dict[str, float | None] = {
        f"{kind}_server": named_cpu_seconds(BROKER_SERVERS[kind]) for kind in kinds
    }
    found["failing_receiver"] = cpu_seconds(receiver) if receiver is not None else None
    return found


def _spent(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float]:
    spent: dict[str, float] = {}
    for name, end in after.items():
        start = before.get(name)
        if start is not None and end is not None:
            spent[name] = round(end - start, 1)
    return spent


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(len(values) * q))], 3)


# ---------------------------------------------------------------- the run


def _settings(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        engine="simulator",
        secret_key="b" * 40,
        log_level="ERROR",
        webhook_allow_private=True,
        admin_email="bench@example.com",
        admin_password="bench-pass-1",
        admin_org="Bench",
    )


async def run(
    events: int,
    database_url: str | None,
    deadline: float,
    *,
    failing_webhook: bool = True,
    per_transaction: int = PER_TRANSACTION,
    backlog: bool = False,
    kinds: Sequence[str] = KINDS,
) -> dict[str, Any]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_failing_main, args=(child, sock))
    proc.start()
    assert parent.recv() == "ready"

    settings = _settings(Path(tempfile.mkdtemp(prefix="zapgate-bench-")), database_url)
    runtime = Runtime.build(settings)
    acked: dict[str, dict[int, float]] = {kind: {} for kind in kinds}
    clocked: dict[str, Clocked] = {}
    gate = asyncio.Event()
    if not backlog:
        gate.set()
    brokers_of = transports(
        runtime.webhook_dispatcher.http_transport,
        timeout=settings.webhook_timeout,
        allow_private=True,
        box=SecretBox(settings.secret()),
    )

    def build(endpoint: Endpoint) -> Transport:
        transport = brokers_of(endpoint)
        if endpoint.kind == KIND_HTTP:
            return transport
        clocked[endpoint.kind] = Clocked(transport, acked[endpoint.kind], gate)
        return clocked[endpoint.kind]

    runtime.webhook_dispatcher.use_transports(build)
    committed: dict[int, float] = {}

    def on_commit(batch: list[Event]) -> None:
        at = time.perf_counter()
        for event in batch:
            committed[event.id] = at

    runtime.db.on_commit(on_commit)
    tune_for_server()
    load_before = os.getloadavg()
    async with Brokers() as brokers:
        await runtime.start()
        try:
            async with runtime.db.read() as s:
                org = await s.scalar(
                    select(OrganizationRow.id).where(OrganizationRow.name == "Bench")
                )
            assert org is not None
            principal = Principal(organization_id=org, role=Role.OWNER)
            if "rabbitmq" in kinds:
                await runtime.exports.create(
                    principal,
                    kind="rabbitmq",
                    url=RABBITMQ_URL,
                    exchange=brokers.exchange,
                    subject_prefix=brokers.prefix,
                )
            if "nats" in kinds:
                await runtime.exports.create(
                    principal,
                    kind="nats",
                    url=NATS_URL,
                    stream=brokers.stream,
                    subject_prefix=brokers.prefix,
                )
            if failing_webhook:
                port = sock.getsockname()[1]
                await runtime.webhooks.create(principal, url=f"http://127.0.0.1:{port}/hook")

            started = time.perf_counter()
            cpu_started = time.process_time()
            others_started = _others_cpu(proc.pid, kinds)
            for first in range(0, events, per_transaction):
                async with runtime.db.write(in_loop=True) as s:
                    for i in range(first, min(first + per_transaction, events)):
                        stage_event(
                            s,
                            organization_id=org,
                            type="message.received",
                            data={"n": i, "text": "hello " * 10},
                            created_at=datetime.now(UTC),
                        )
                    await flush_staged(s)
            produced = time.perf_counter() - started
            opened = time.perf_counter()
            gate.set()

            while (
                min(len(a) for a in acked.values()) < events
                and time.perf_counter() - started < deadline
            ):
                await asyncio.sleep(0.2)
            finished = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            others = _others_cpu(proc.pid, kinds)
            async with runtime.db.read() as s:
                export_errors = {
                    f"{kind}: {error}": count
                    for kind, error, count in await s.execute(
                        select(WebhookRow.kind, WebhookAttemptRow.error, func.count())
                        .join(
                            WebhookDeliveryRow,
                            WebhookDeliveryRow.id == WebhookAttemptRow.delivery_id,
                        )
                        .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
                        .where(WebhookRow.kind != KIND_HTTP, WebhookAttemptRow.error.is_not(None))
                        .group_by(WebhookRow.kind, WebhookAttemptRow.error)
                    )
                }
                failing_pending = await s.scalar(
                    select(func.count()).where(
                        WebhookDeliveryRow.status == "pending",
                        WebhookDeliveryRow.attempts > 0,
                    )
                )
        finally:
            await runtime.stop()
        at_broker = await brokers.counts()
    parent.send("report")
    failing_requests: int = parent.recv()
    proc.join()

    first_commit = min(committed.values()) if committed else 0.0
    if backlog:
        first_commit = opened  # the rate of draining the backlog
    result: dict[str, Any] = {
        "events": events,
        "per_transaction": per_transaction,
        "backlog": backlog,
        "brokers_exported_to": list(kinds),
        "database": "postgresql" if database_url else "sqlite",
        "produce_seconds": round(produced, 2),
        "events_per_second_written": round(events / produced),
        "wall_seconds": round(finished, 1),
        "cpu_seconds": round(cpu, 1),
        "cpu_seconds_of_others": _spent(others_started, others),
        "machine": {
            "cpus": os.cpu_count(),
            "core_loop_seconds": core_speed(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "brokers": {},
        "export_errors": export_errors,
        "failing_webhook": {
            "requests_answered_500": failing_requests,
            "deliveries_tried_and_pending": failing_pending,
        }
        if failing_webhook
        else None,
    }
    targets: dict[str, bool] = {}
    for kind, times in acked.items():
        lags = sorted(at - committed[e] for e, at in times.items() if e in committed)
        span = (max(times.values()) - first_commit) if times else 0.0
        rate = round(len(times) / span) if span > 0 else 0
        result["brokers"][kind] = {
            "confirmed_events": len(times),
            "missing": events - len(times),
            "at_broker": at_broker[kind],
            "events_per_second": rate,
            "lag_p50_s": None if backlog else _quantile(lags, 0.5),
            "lag_p99_s": None if backlog else _quantile(lags, 0.99),
            "lag_max_s": round(lags[-1], 3) if lags and not backlog else None,
            "batches": clocked[kind].batches,
            "seconds_publishing": round(clocked[kind].sending, 2),
        }
        targets[f"{kind}_ge_5000_per_s"] = rate >= 5000
        if not backlog:
            targets[f"{kind}_p99_lag_le_1s"] = (_quantile(lags, 0.99) or 99.0) <= 1.0
        targets[f"{kind}_all_confirmed"] = len(times) == events
    result["targets_met"] = targets
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--per-transaction", type=int, default=PER_TRANSACTION)
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="hold the exports' publishes until every event is written, then time the "
        "drain: the exports' own rate, whatever the producer's",
    )
    parser.add_argument(
        "--brokers",
        default=",".join(KINDS),
        help="the exports to make, comma-separated (rabbitmq,nats): one alone measures "
        "that broker without the other's publishing on the same cores",
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument(
        "--profile", default=None, help="write a cProfile of the run here, top lines to stderr"
    )
    parser.add_argument(
        "--without-failing-webhook",
        action="store_true",
        help="the exports alone (to see what the failing webhook costs them)",
    )
    args = parser.parse_args()
    kinds = [kind for kind in args.brokers.split(",") if kind]
    if not kinds or set(kinds) - set(KINDS):
        parser.error(f"--brokers takes a comma-separated subset of {','.join(KINDS)}")
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    result = uvloop.run(
        run(
            args.events,
            args.database_url,
            args.deadline,
            failing_webhook=not args.without_failing_webhook,
            per_transaction=args.per_transaction,
            backlog=args.backlog,
            kinds=kinds,
        )
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
