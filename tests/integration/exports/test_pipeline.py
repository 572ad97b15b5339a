"""An export's pipeline: several batches in flight at once, with a stand-in broker whose
confirmations the test gives (SQLite and PostgreSQL; the worker, claims, outcomes and the
broker transports' shared half are the real ones, only the wire is replaced).

- Two batches go out before the first is confirmed, in event id order, and the third
  waits for room in the pipeline.
- A batch failing while the next is out: the next one's confirmations fail with the
  connection, nothing more goes out until the retry, which sends from the failed batch
  on in order; a batch that had not gone out yet comes back ``held`` and unrecorded.
- The worker crashing with two batches out (its outcomes cannot be written): after the
  restart every event goes out again from the first unrecorded one, in order.
- A delivery redelivered by hand while its batch is out is sent again, although the
  batch's successes are settled by one statement.

Nothing is lost, and an event reaches the broker twice only when a batch it was in was
out when the failure came (at least once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Server, eventually
from tests.integration.exports.test_brokers import add_export
from tests.integration.webhooks.test_delivery import advance_until
from zapgate.config import Settings
from zapgate.events.log import flush_staged, stage_event
from zapgate.exports import transports
from zapgate.exports.publishing import BrokerTransport
from zapgate.store.tables.webhooks import WebhookAttemptRow, WebhookDeliveryRow
from zapgate.util.clock import ManualClock
from zapgate.webhooks import outcomes
from zapgate.webhooks.claims import Due
from zapgate.webhooks.outcomes import Outcome, OutcomeRecorder
from zapgate.webhooks.transport import Endpoint

BATCH = 3


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


@dataclass
class Broker:
    """What reached the stand-in broker, in order, and the confirmations it owes."""

    published: list[int] = field(default_factory=list)
    waiting: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    opening: asyncio.Future[None] | None = None
    """When set, connecting waits for it (an error: the broker refuses)."""

    def confirm(self, count: int) -> None:
        for _, future in self.waiting[:count]:
            if not future.done():
                future.set_result(None)
        del self.waiting[:count]

    def answer(self, refused: int, batch: list[int]) -> None:
        """Confirm the messages of ``batch``, but one: ``refused``."""
        for n, future in self.waiting:
            if n == refused:
                future.set_exception(ConnectionError("NACK from the broker"))
            elif n in batch:
                future.set_result(None)
        self.waiting = [(n, f) for n, f in self.waiting if not f.done()]

    def lose_connection(self) -> None:
        for _, future in self.waiting:
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        self.waiting.clear()


class StandIn(BrokerTransport):
    def __init__(self, broker: Broker, endpoint: Endpoint, **options: Any) -> None:
        super().__init__(endpoint, **options)
        self.broker = broker
        self._open_now = False

    async def _open(self) -> None:
        if not self._open_now:
            if self.broker.opening is not None:
                await self.broker.opening
            self._open_now = True

    async def _issue(self, dues: list[Due]) -> list[Awaitable[object]]:
        loop = asyncio.get_running_loop()
        confirmations: list[Awaitable[object]] = []
        for due in dues:
            future: asyncio.Future[None] = loop.create_future()
            self.broker.published.append(due.event_id)
            self.broker.waiting.append((due.event_id, future))
            confirmations.append(future)
        return confirmations

    async def _drop(self) -> None:
        if self._open_now:
            self._open_now = False
            self.broker.lose_connection()


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Broker:
    """Exports to NATS go to the stand-in, in batches of ``BATCH``, two in flight; a
    batch's successes are settled by one statement, as bigger ones are."""
    stand_in = Broker()
    monkeypatch.setattr(outcomes, "ALIKE", 2)
    monkeypatch.setattr(BrokerTransport, "batch", BATCH)
    monkeypatch.setattr(BrokerTransport, "depth", 2)
    monkeypatch.setattr(transports, "JetStreamTransport", lambda e, **o: StandIn(stand_in, e, **o))
    return stand_in


async def export_with_events(server: Server, admin: dict[str, str], count: int) -> list[int]:
    """An export to the stand-in, then ``count`` events in one commit: their ids."""
    org = (await server.http.get("/api/v1/me", headers=admin)).json()["organization"]["id"]
    await add_export(server.http, admin, kind="nats", url="nats://127.0.0.1:4222", stream="S")
    clock = server.runtime.clock
    async with server.runtime.db.write() as s:
        for n in range(count):
            stage_event(
                s,
                organization_id=org,
                type="message.received",
                data={"n": n},
                created_at=clock.now(),
            )
        events = await flush_staged(s)
    return [event.id for event in events]


async def export_of(server: Server) -> str:
    async with server.runtime.db.read() as s:
        return str(await s.scalar(select(WebhookDeliveryRow.webhook_id).limit(1)))


async def published(broker: Broker, count: int) -> None:
    async def enough() -> bool:
        return len(broker.published) >= count

    await eventually(enough, what=f"{count} publishes")


async def settled(server: Server) -> dict[int, tuple[str, int]]:
    """``event id: (status, attempts)`` of every export delivery."""
    async with server.runtime.db.read() as s:
        rows = await s.execute(
            select(
                WebhookDeliveryRow.event_id, WebhookDeliveryRow.status, WebhookDeliveryRow.attempts
            )
        )
        return {r.event_id: (r.status, r.attempts) for r in rows}


async def all_delivered(server: Server, ids: list[int]) -> None:
    async def done() -> bool:
        states = await settled(server)
        return all(states[i][0] == "delivered" for i in ids)

    await eventually(done, what="every delivery recorded as delivered")


async def confirm_until_delivered(
    server: Server, broker: Broker, clock: ManualClock, ids: list[int]
) -> None:
    """Confirm whatever is out, moving the clock on for retries, until every delivery
    is recorded as delivered."""

    async def done() -> bool:
        broker.confirm(len(broker.waiting))
        states = await settled(server)
        return all(states[i][0] == "delivered" for i in ids)

    await advance_until(clock, done, step=5, what="every delivery recorded as delivered")


def first_seen(published: list[int]) -> list[int]:
    seen: list[int] = []
    for n in published:
        if n not in seen:
            seen.append(n)
    return seen


async def test_two_batches_go_out_before_the_first_is_confirmed_in_order(
    server: Server, admin: dict[str, str], broker: Broker
) -> None:
    ids = await export_with_events(server, admin, 3 * BATCH)
    # Two batches out, nothing confirmed: the third waits for room in the pipeline.
    await published(broker, 2 * BATCH)
    assert broker.published == ids[: 2 * BATCH]
    assert all(state == ("pending", 0) for state in (await settled(server)).values())
    broker.confirm(BATCH)
    await published(broker, 3 * BATCH)
    await all_delivered(server, ids[:BATCH])
    broker.confirm(2 * BATCH)
    await all_delivered(server, ids)
    assert broker.published == ids
    assert set((await settled(server)).values()) == {("delivered", 1)}


async def test_a_batch_failing_while_the_next_is_out_loses_nothing_and_keeps_order(
    server: Server, admin: dict[str, str], broker: Broker, clock: ManualClock
) -> None:
    ids = await export_with_events(server, admin, 3 * BATCH)
    await published(broker, 2 * BATCH)
    # The broker refuses one message of the first batch and confirms the others: the
    # connection is dropped, and the second batch's confirmations are lost with it.
    broker.answer(ids[1], ids[:BATCH])

    async def failed() -> bool:
        states = await settled(server)
        return all(states[i][1] == 1 for i in ids[: 2 * BATCH])

    await eventually(failed, what="both batches recorded")
    states = await settled(server)
    delivered, refused = ("delivered", 1), ("pending", 1)
    assert [states[i] for i in ids] == [delivered, refused, delivered] + [refused] * BATCH + [
        ("pending", 0)
    ] * BATCH
    # Nothing after them went out: the refused one goes first, at its retry, and the
    # second batch again after it.
    assert broker.published == ids[: 2 * BATCH]
    await confirm_until_delivered(server, broker, clock, ids)
    again = [ids[1], *ids[BATCH:]]
    assert broker.published == ids[: 2 * BATCH] + again
    assert first_seen(broker.published) == ids


async def test_a_batch_not_yet_out_when_the_one_before_fails_is_held_unrecorded(
    server: Server, admin: dict[str, str], broker: Broker, clock: ManualClock
) -> None:
    loop = asyncio.get_running_loop()
    broker.opening = loop.create_future()
    ids = await export_with_events(server, admin, 2 * BATCH)
    # The first batch is connecting, the second waits behind it for the connection.
    worker = server.runtime.webhook_dispatcher._slots[await export_of(server)].worker

    async def both_claimed() -> bool:
        return len(worker._pipeline) == 2

    await eventually(both_claimed, what="two batches claimed")
    broker.opening.set_exception(ConnectionError("connection refused"))
    broker.opening = None

    async def first_failed() -> bool:
        return (await settled(server))[ids[0]] == ("pending", 1)

    await eventually(first_failed, what="the first batch recorded as failed")
    await eventually(lambda: _idle(worker), what="the pipeline drained")
    states = await settled(server)
    assert [states[i] for i in ids] == [("pending", 1)] * BATCH + [("pending", 0)] * BATCH
    async with server.runtime.db.read() as s:
        logged = await s.scalar(select(WebhookAttemptRow.delivery_id).limit(100).offset(BATCH))
    assert logged is None  # the held batch left no attempt in the delivery log
    assert broker.published == []
    await confirm_until_delivered(server, broker, clock, ids)
    assert broker.published == ids


async def _idle(worker: Any) -> bool:
    return not worker._pipeline


async def test_a_worker_restarting_mid_pipeline_sends_again_in_order(
    server: Server,
    admin: dict[str, str],
    broker: Broker,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write = OutcomeRecorder._write
    broken = True

    async def unwritable(self: OutcomeRecorder, group: list[Outcome]) -> list[datetime | None]:
        if broken:
            raise RuntimeError("the database went away")
        return await write(self, group)

    monkeypatch.setattr(OutcomeRecorder, "_write", unwritable)
    ids = await export_with_events(server, admin, 3 * BATCH)
    await published(broker, 2 * BATCH)
    dispatcher = server.runtime.webhook_dispatcher
    # The first batch is confirmed but its outcomes cannot be written: the worker
    # crashes with the second batch still out, and abandons it.
    broker.confirm(BATCH)

    async def crashed() -> bool:
        return dispatcher.restarts == 1

    await eventually(crashed, what="the worker crashing")
    assert set((await settled(server)).values()) == {("pending", 0)}
    broken = False
    # The dispatcher restarts the worker after its backoff.
    await confirm_until_delivered(server, broker, clock, ids)
    assert broker.published[: 2 * BATCH] == ids[: 2 * BATCH]
    assert broker.published[2 * BATCH :] == ids
    assert set((await settled(server)).values()) == {("delivered", 1)}


async def test_a_delivery_redelivered_while_its_batch_is_out_goes_again(
    server: Server, admin: dict[str, str], broker: Broker, clock: ManualClock
) -> None:
    ids = await export_with_events(server, admin, BATCH)
    await published(broker, BATCH)
    async with server.runtime.db.read() as s:
        delivery = await s.scalar(
            select(WebhookDeliveryRow.id).where(WebhookDeliveryRow.event_id == ids[1])
        )
    await clock.advance(1)
    answer = await server.http.post(
        f"/api/v1/exports/{await export_of(server)}/deliveries/{delivery}/redeliver", headers=admin
    )
    assert answer.status_code == 202, answer.text
    broker.confirm(BATCH)
    await published(broker, BATCH + 1)
    assert broker.published == [*ids, ids[1]]
    broker.confirm(1)

    async def again() -> bool:
        return (await settled(server))[ids[1]] == ("delivered", 2)

    await eventually(again, what="the redelivered one delivered again")
    states = await settled(server)
    assert [states[i] for i in ids] == [("delivered", 1), ("delivered", 2), ("delivered", 1)]
