"""Recovery of messages left ``sending`` by a crash, for both kinds of engine."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conftest import Server
from tests.integration.api.helpers import create_connection
from tests.integration.messaging.kit import (
    CUSTOMER,
    message,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.outbox.outcomes import Outcomes
from zapgate.outbox.sender import STUCK_SWEEP
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import ManualClock


async def test_interrupted_sends_are_requeued_or_failed(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    await create_connection(server.http, admin)  # idle: nothing is sent meanwhile
    first = await send(server.http, admin, {"to": CUSTOMER, "text": "a"})
    second = await send(server.http, admin, {"to": CUSTOMER, "text": "b"})
    db = server.runtime.db
    outcomes = Outcomes(db)

    async def mark_sending(mid: str) -> None:
        async with db.write() as s:
            await s.execute(update(MessageRow).where(MessageRow.id == mid).values(status="sending"))

    await mark_sending(first["id"])
    assert await outcomes.recover(clock.now(), resend=True) == 1
    again = await message(server.http, admin, first["id"])
    assert again["status"] == "queued"
    assert again["wa_message_id"] == first["wa_message_id"]  # the same id on the retry

    # A message this process's own lane is still sending is left to it.
    await mark_sending(first["id"])
    assert await outcomes.recover(clock.now(), resend=True, busy={first["id"]}) == 0
    assert (await message(server.http, admin, first["id"]))["status"] == "sending"
    assert await outcomes.recover(clock.now(), resend=True) == 1

    await mark_sending(second["id"])
    assert await outcomes.recover(clock.now(), resend=False) == 1
    failed = await message(server.http, admin, second["id"])
    assert failed["status"] == "failed"
    assert failed["error_code"] == "send_interrupted"


async def _attempts(server: Server, mid: str) -> int:
    async with server.runtime.db.read() as s:
        return int(await s.scalar(select(MessageRow.attempts).where(MessageRow.id == mid)) or 0)


def _recoveries(caplog: pytest.LogCaptureFixture) -> int:
    return sum("left sending" in r.getMessage() for r in caplog.records)


async def test_a_message_left_sending_while_running_is_recovered_and_sent_once(
    server: Server, admin: dict[str, str], clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="zapgate.outbox.sender")
    cid = await ready_connection(server, admin, clock)
    sim = simulator(server)
    # A send that takes longer than two sweeps is in flight, not stuck: never taken back.
    # No receipts: the status must come from the worker's own outcome.
    sim.update_settings(latency_ms=int(STUCK_SWEEP * 2.5 * 1000), auto_receipts=False)
    slow = await send(server.http, admin, {"to": CUSTOMER, "text": "slow"})
    await wait_status(server, admin, clock, slow["id"], "sent")
    assert await _attempts(server, slow["id"]) == 1
    assert _recoveries(caplog) == 0

    # A lane that died between its claim and the outcome (the database went away, say)
    # leaves its row ``sending``; the worker takes it back and sends it, once.
    sim.update_settings(latency_ms=0)
    later = (clock.now() + timedelta(hours=1)).isoformat()
    left = await send(server.http, admin, {"to": CUSTOMER, "text": "left", "send_at": later})
    async with server.runtime.db.write() as s:
        await s.execute(
            update(MessageRow)
            .where(MessageRow.id == left["id"])
            .values(status="sending", attempts=1, next_attempt_at=None)
        )
    started = clock.now()
    done = await wait_status(server, admin, clock, left["id"], "sent")
    assert (clock.now() - started).total_seconds() <= STUCK_SWEEP * 2 + 5
    assert done["wa_message_id"] == left["wa_message_id"]
    ids = [e.wa_message_id for e in sim.outbox(cid)]
    assert ids == [slow["wa_message_id"], left["wa_message_id"]]
    assert await _attempts(server, left["id"]) == 2
    assert _recoveries(caplog) == 1
    assert server.runtime.sender.problem() is None


async def test_a_failed_send_whose_outcome_the_database_refused_is_tried_again(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    # An engine that cannot resend with our ids (neonize) fails a message left
    # ``sending`` as interrupted: it may have arrived. One that failed to go out, whose
    # failure could not be written while the database was away, did not arrive: its
    # lane keeps trying to write the failure, and the message is tried again.
    cid = await ready_connection(server, admin, clock)
    sender = server.runtime.sender
    sender._resend = False
    sim = simulator(server)
    sim.update_settings(failure_rate=1.0, auto_receipts=False)
    outcomes = sender._attempts._out
    real_retry = outcomes.retry
    refused: list[str] = []

    async def retry_once_refused(message_id: str, **kw: Any) -> None:
        if not refused:
            refused.append(message_id)
            sim.update_settings(failure_rate=0.0)
            raise OSError("the database went away")
        await real_retry(message_id, **kw)

    outcomes.retry = retry_once_refused  # type: ignore[method-assign]
    sent = await send(server.http, admin, {"to": CUSTOMER, "text": "again"})
    done = await wait_status(server, admin, clock, sent["id"], "sent", "failed")
    assert refused == [sent["id"]]
    assert done["status"] == "sent", done
    assert [e.wa_message_id for e in sim.outbox(cid)] == [sent["wa_message_id"]]
