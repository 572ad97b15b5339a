"""The outbox: pacing per connection, daily caps, idempotency, waiting for a connection."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, eventually, login, running_server
from tests.integration.api.helpers import API, status_of
from tests.integration.messaging.kit import (
    CUSTOMER,
    drive,
    message,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.config import Settings
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import ManualClock


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    # Two minutes instead of an hour, so the test drives less clock time.
    return settings_factory(outbox_unavailable_timeout=120)


async def test_sends_are_paced_per_connection(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    slow = await ready_connection(server, admin, clock, name="A")
    other = await ready_connection(server, admin, clock, name="B", phone="5511999990002")
    for cid in (slow, other):
        patched = await server.http.patch(
            f"{API}/connections/{cid}", headers=admin, json={"rate_limit_per_minute": 60}
        )
        assert patched.status_code == 200
    sim = simulator(server)
    sim.update_settings(latency_ms=0, auto_receipts=False)
    for i in range(100):
        await send(server.http, admin, {"to": CUSTOMER, "text": f"m{i}", "connection_id": slow})
    for i in range(5):
        await send(
            server.http, admin, {"to": "5511977776666", "text": f"b{i}", "connection_id": other}
        )
    start = clock.now()

    async def all_out() -> bool:
        return len(sim.outbox(slow)) == 100 and len(sim.outbox(other)) == 5

    step = 0.25
    await drive(clock, all_out, step=step, limit=400, what="100 paced sends", real_timeout=300)
    times = [e.timestamp for e in sim.outbox(slow)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    # 60/min is one send a second, each gap jittered by at most 30 %.
    assert min(gaps) >= 0.7 - 1e-6
    # Never faster than the pace; slower only by the test's clock steps (a send wakes
    # at its deadline but its database work may finish a step or two later on a busy box).
    assert 99 * 0.7 <= (times[-1] - times[0]).total_seconds() <= 99 * (1.3 + 2 * step) + 10
    assert [e.text for e in sim.outbox(slow)] == [f"m{i}" for i in range(100)]
    # The other number kept its own pace and did not wait behind the 100.
    other_done = sim.outbox(other)[-1].timestamp
    assert (other_done - start).total_seconds() <= 5 * (1.3 + 2 * step) + 5


async def test_the_pace_holds_across_a_restart_like_a_move(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    """A fresh process sends next (a restart here; in a cluster the node that takes the
    connection over): it starts with no memory of the last send, so the pace must come
    from the database, or a send could follow the one before at once."""
    settings = settings_factory(restore_jitter=0, outbox_rate_jitter=0)
    async with running_server(settings, clock) as srv:
        headers = await login(srv.http, ADMIN_EMAIL, ADMIN_PASSWORD)
        cid = await ready_connection(srv, headers, clock)
        patched = await srv.http.patch(
            f"{API}/connections/{cid}", headers=headers, json={"rate_limit_per_minute": 2}
        )
        assert patched.status_code == 200
        simulator(srv).update_settings(latency_ms=0, auto_receipts=False)
        first = await send(srv.http, headers, {"to": CUSTOMER, "text": "before"})
        before = await wait_status(srv, headers, clock, first["id"], "sent")

    moved = ManualClock(clock.now())  # a new process: its own monotonic clock
    async with running_server(settings, moved) as srv:
        headers = await login(srv.http, ADMIN_EMAIL, ADMIN_PASSWORD)

        async def ready() -> bool:
            return (await status_of(srv.http, headers, cid))["state"] == "ready"

        await drive(moved, ready, step=0.25, what="the connection resumed")
        simulator(srv).update_settings(latency_ms=0, auto_receipts=False)
        second = await send(srv.http, headers, {"to": CUSTOMER, "text": "after"})
        after = await wait_status(srv, headers, moved, second["id"], "sent")
    gap = _at(after["sent_at"]) - _at(before["sent_at"])
    # 2/min is one send every 30 s: the resume took a few seconds of them, not all; the
    # send then waits out the rest (and a few clock steps more on a busy machine).
    assert gap >= timedelta(seconds=30)
    assert gap <= timedelta(seconds=35)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_daily_cap_holds_the_rest(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    await server.http.patch(
        f"{API}/connections/{cid}",
        headers=admin,
        json={"daily_cap": 3, "rate_limit_per_minute": 600},
    )
    simulator(server).update_settings(latency_ms=0, auto_receipts=False)
    ids = [
        (await send(server.http, admin, {"to": CUSTOMER, "text": str(i)}))["id"] for i in range(5)
    ]

    async def three_out() -> bool:
        return len(simulator(server).outbox(cid)) == 3

    await drive(clock, three_out, what="three sends")
    sender = server.runtime.sender

    async def capped() -> bool:
        return sender.paused_until(cid) is not None and sender.lanes == 0

    await drive(clock, capped, step=0.1, what="the lane to pause at the cap")
    passes = sender.dispatches
    await clock.advance(30)

    async def dispatched_again() -> bool:
        return sender.dispatches > passes

    await eventually(dispatched_again, what="a dispatch pass after the clock moved")
    # That pass saw the queued rows and the pause: it started no lane (a lane it had
    # started would still be listed, or would have sent a fourth message).
    assert sender.lanes == 0
    assert sender.paused_until(cid) is not None
    assert len(simulator(server).outbox(cid)) == 3
    assert (await message(server.http, admin, ids[4]))["status"] == "queued"


async def test_same_idempotency_key_concurrently_is_one_message(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    await ready_connection(server, admin, clock)
    headers = {**admin, "Idempotency-Key": "order-42"}
    body = {"to": CUSTOMER, "text": "your order shipped"}
    answers = await asyncio.gather(
        *(server.http.post(f"{API}/messages", headers=headers, json=body) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    async with server.runtime.db.read() as s:
        count = await s.scalar(select(func.count()).select_from(MessageRow))
    assert count == 1
    reused = await server.http.post(
        f"{API}/messages", headers=headers, json={"to": CUSTOMER, "text": "something else"}
    )
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


async def test_message_waits_for_its_connection_then_fails(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    stop = await server.http.post(f"{API}/connections/{cid}/stop", headers=admin)
    assert stop.status_code == 202
    waiting = await send(server.http, admin, {"to": CUSTOMER, "text": "later"})
    await drive(clock, _after(clock, 60), step=5, what="a minute")
    assert (await message(server.http, admin, waiting["id"]))["status"] == "queued"
    failed = await wait_status(server, admin, clock, waiting["id"], "failed")
    assert failed["error_code"] == "connection_unavailable"
    assert simulator(server).outbox(cid) == []


async def test_scheduled_message_waits_and_can_be_canceled(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    send_at = clock.now() + timedelta(seconds=120)
    scheduled = await send(
        server.http, admin, {"to": CUSTOMER, "text": "reminder", "send_at": send_at.isoformat()}
    )
    assert scheduled["status"] == "scheduled"
    assert scheduled["send_at"] is not None
    other = await send(
        server.http, admin, {"to": CUSTOMER, "text": "never", "send_at": send_at.isoformat()}
    )
    canceled = await server.http.post(f"{API}/messages/{other['id']}/cancel", headers=admin)
    assert canceled.json()["status"] == "canceled"
    again = await server.http.post(f"{API}/messages/{other['id']}/cancel", headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_cancelable"
    await drive(clock, _after(clock, 60), step=5, what="a minute")
    assert simulator(server).outbox(cid) == []
    sent = await wait_status(server, admin, clock, scheduled["id"], "sent", "delivered", "read")
    assert sent["sent_at"] >= send_at.isoformat()[:19]
    assert [e.text for e in simulator(server).outbox(cid)] == ["reminder"]


def _after(clock: ManualClock, seconds: float) -> Callable[[], Awaitable[bool]]:
    target = clock.monotonic() + seconds

    async def check() -> bool:
        return clock.monotonic() >= target

    return check
