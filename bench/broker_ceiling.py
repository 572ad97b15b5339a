"""What publishing alone costs on this machine: zapgate's own broker transports, no database.

``bench/brokers.py`` measures the whole path (events written, fanned out, claimed,
published, outcomes recorded) in one process. This one isolates the publish: the
export transports (``exports/amqp.AmqpTransport``, ``exports/jetstream.JetStreamTransport``)
send ``--events`` synthetic deliveries in batches of their production size with their
production pipeline depth, as an export worker hands them, and the figures are the rate,
the CPU time per event of this process (the client library: frames, confirmations) and
of the broker's own server process (RabbitMQ's ``beam.smp``, ``nats-server``) read from
``/proc``. On a 2-core machine these say how many cores one broker's traffic needs
before zapgate has claimed or recorded anything, so how far the 5,000 events/s target
of bench/brokers.py is from what the machine can give.

Prints one JSON object. Usage: python -m bench.broker_ceiling [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import uvloop

from bench._brokers import NATS_URL, RABBITMQ_URL, Brokers
from bench._cpu import named_cpu_seconds
from zapgate.exports.addresses import KIND_NATS, KIND_RABBITMQ
from zapgate.exports.transports import transports
from zapgate.util.secretbox import SecretBox
from zapgate.webhooks.claims import Due
from zapgate.webhooks.transport import Endpoint, Transport

BODY = json.dumps({"type": "message.received", "data": {"text": "hello " * 10}}).encode()


def _no_http(endpoint: Endpoint) -> Transport:
    raise AssertionError("only broker exports here")


async def _publish(transport: Transport, events: int) -> int:
    """Every delivery through ``transport``, ``depth`` batches in flight; confirmed."""
    now = datetime.now(UTC)
    batches = [
        [
            Due(
                id=f"d{i}",
                event_id=i,
                event_type="message.received",
                connection_id="c1",
                attempts=0,
                due_at=None,
                created_at=now,
                body=BODY,
            )
            for i in range(first, min(first + transport.batch, events))
        ]
        for first in range(0, events, transport.batch)
    ]
    slots = asyncio.Semaphore(transport.depth)
    confirmed = 0

    async def one(batch: list[Due]) -> None:
        nonlocal confirmed
        async with slots:
            attempts = await transport.send(batch, now=now)
        errors = {a.error for a in attempts if not a.ok}
        assert not errors, errors
        confirmed += len(attempts)

    await asyncio.gather(*(one(batch) for batch in batches))
    return confirmed


async def run(events: int) -> dict[str, Any]:
    build = transports(_no_http, timeout=30, allow_private=True, box=SecretBox("k" * 40))
    result: dict[str, Any] = {"events": events, "cpus": os.cpu_count(), "brokers": {}}
    async with Brokers() as brokers:
        for kind, url, server in (
            (KIND_RABBITMQ, RABBITMQ_URL, "beam.smp"),
            (KIND_NATS, NATS_URL, "nats-server"),
        ):
            endpoint = Endpoint(
                id=f"bench-{kind}",
                organization_id="org",
                url=url,
                secret="",
                ordered=True,
                kind=kind,
                exchange=brokers.exchange,
                stream=brokers.stream,
                subject_prefix=brokers.prefix,
            )
            transport = build(endpoint)
            await _publish(transport, 200)  # connected, stream made: not timed
            load = os.getloadavg()[0]
            server_before = named_cpu_seconds(server)
            cpu_before = time.process_time()
            started = time.perf_counter()
            confirmed = await _publish(transport, events)
            wall = time.perf_counter() - started
            ours = time.process_time() - cpu_before
            server_after = named_cpu_seconds(server)
            await transport.aclose()
            theirs = (
                server_after - server_before
                if server_after is not None and server_before is not None
                else None
            )
            result["brokers"][kind] = {
                "confirmed": confirmed,
                "events_per_second": round(confirmed / wall),
                "batch": transport.batch,
                "depth": transport.depth,
                "zapgate_cpu_us_per_event": round(ours / confirmed * 1e6),
                "broker_cpu_us_per_event": (
                    round(theirs / confirmed * 1e6) if theirs is not None else None
                ),
                "cores_needed_at_5000_per_s": round(5000 * (ours + (theirs or 0.0)) / confirmed, 2),
                "load_average_before": round(load, 2),
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps(uvloop.run(run(args.events)), indent=2))


if __name__ == "__main__":
    main()
