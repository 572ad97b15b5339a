"""Guarded live streams: re-checked on a clock, at expiry and after a local change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import eventually
from zapgate.domain.errors import Forbidden, Unauthorized
from zapgate.domain.events import Event
from zapgate.domain.streams import StreamStopped
from zapgate.events.bus import EventBus
from zapgate.events.guard import Guard
from zapgate.events.stream import EventStreams, Follower
from zapgate.store.db import Database
from zapgate.util.clock import ManualClock

INTERVAL = 5.0


def _event(id: int) -> Event:
    return Event(
        id=id,
        type="contact.updated",
        organization_id="org-a",
        connection_id=None,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        data={},
    )


class Credential:
    """A credential whose validity the test decides; counts and can hold its checks."""

    def __init__(self, clock: ManualClock, expires_at: datetime | None = None) -> None:
        self.clock = clock
        self.expires_at = expires_at
        self.error: Exception | None = None
        self.checks = 0
        self.running = 0
        self.most_at_once = 0
        self.gate: asyncio.Event | None = None

    async def check(self) -> None:
        self.checks += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.expires_at is not None and self.clock.now() >= self.expires_at:
                raise Unauthorized("token expired", code="token_expired")
            if self.error is not None:
                raise self.error
        finally:
            self.running -= 1

    @property
    def guard(self) -> Guard:
        return Guard(self.check, self.expires_at)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def streams(tmp_path: Path, clock: ManualClock) -> AsyncIterator[EventStreams]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")  # live only: never read
    streams = EventStreams(db, EventBus(), clock=clock, auth_interval=INTERVAL)
    yield streams
    await streams.stop()
    await db.close()


async def _stopped(follower: Follower) -> StreamStopped:
    with pytest.raises(StreamStopped) as raised:
        async with asyncio.timeout(5):
            await follower.next_item()
    return raised.value


async def test_a_revoked_credential_ends_the_stream_at_the_next_check(
    streams: EventStreams, clock: ManualClock
) -> None:
    credential = Credential(clock)
    follower = streams.open("org-a", guard=credential.guard)
    await clock.advance(INTERVAL)
    assert credential.checks == 1
    streams.bus.publish([_event(1)])
    assert (await follower.next_item()) == _event(1)
    credential.error = Unauthorized("API key was revoked", code="api_key_revoked")
    await clock.advance(INTERVAL - 1)
    assert not follower.stopped  # revoked elsewhere: seen at the next check, not before
    await clock.advance(1)
    streams.bus.publish([_event(2)])
    assert (await _stopped(follower)).error.code == "api_key_revoked"
    assert (await follower.wait_stopped()).code == "api_key_revoked"
    follower.close()
    assert clock.pending == 0  # its watcher ended with it


async def test_a_stream_ends_at_its_token_expiry_not_at_the_next_period(
    streams: EventStreams, clock: ManualClock
) -> None:
    credential = Credential(clock, expires_at=clock.now() + timedelta(seconds=7))
    follower = streams.open("org-a", guard=credential.guard)
    await clock.advance(INTERVAL)
    assert not follower.stopped
    await clock.advance(2)
    assert (await _stopped(follower)).error.code == "token_expired"
    assert credential.checks == 2
    follower.close()


async def test_nothing_is_delivered_past_the_expiry_before_a_check(
    streams: EventStreams, clock: ManualClock
) -> None:
    credential = Credential(clock, expires_at=clock.now() + timedelta(seconds=1))
    follower = streams.open("org-a", guard=credential.guard)
    credential.gate = asyncio.Event()  # the watcher's check is slow: still running
    await clock.advance(1)
    streams.bus.publish([_event(1)])
    credential.gate.set()
    assert (await _stopped(follower)).error.code == "token_expired"
    follower.close()


async def test_a_credential_still_valid_past_its_expiry_is_not_checked_in_a_loop(
    streams: EventStreams, clock: ManualClock
) -> None:
    credential = Credential(clock, expires_at=clock.now() + timedelta(seconds=1))
    follower = streams.open("org-a", guard=Guard(_valid, credential.expires_at))
    await clock.advance(1)
    await clock.advance(0)
    assert clock.pending == 1  # the watcher waits for the next period
    assert clock.next_deadline() == INTERVAL
    streams.bus.publish([_event(1)])
    assert (await follower.next_item()) == _event(1)
    follower.close()


async def _valid() -> None:
    return None


async def test_a_local_change_holds_events_until_the_credential_is_checked(
    streams: EventStreams, clock: ManualClock
) -> None:
    credential = Credential(clock)
    follower = streams.open("org-a", guard=credential.guard)
    waiting = asyncio.ensure_future(follower.next_item())
    await asyncio.sleep(0)
    credential.gate = asyncio.Event()
    streams.guards.credentials_changed()
    streams.bus.publish([_event(1)])
    await eventually(_running(credential), what="the check after the change")
    assert not waiting.done()  # held: the credential may be gone
    credential.error = Unauthorized("token is no longer valid", code="invalid_token")
    credential.gate.set()
    with pytest.raises(StreamStopped) as raised:
        await waiting
    assert raised.value.error.code == "invalid_token"
    follower.close()


async def test_a_local_change_that_left_the_credential_valid_releases_the_events(
    streams: EventStreams, clock: ManualClock
) -> None:
    credential = Credential(clock)
    follower = streams.open("org-a", guard=credential.guard)
    streams.guards.credentials_changed()
    streams.bus.publish([_event(1)])
    assert (await follower.next_item()) == _event(1)
    assert credential.checks >= 1
    follower.close()


async def test_after_a_change_streams_are_checked_one_at_a_time(
    streams: EventStreams, clock: ManualClock
) -> None:
    credential = Credential(clock)
    credential.error = Forbidden("this action needs the manager role or higher")
    followers = [streams.open("org-a", guard=credential.guard) for _ in range(5)]
    unguarded = streams.open("org-a")
    streams.guards.credentials_changed()
    await eventually(_all_stopped(followers), what="every guarded stream stopped")
    assert credential.checks == 5
    assert credential.most_at_once == 1
    assert not unguarded.stopped
    for follower in [*followers, unguarded]:
        follower.close()


async def test_a_check_that_cannot_run_ends_the_stream(
    streams: EventStreams, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    credential = Credential(clock)
    credential.error = OSError("database unreachable")
    follower = streams.open("org-a", guard=credential.guard)
    with caplog.at_level(logging.WARNING, logger="zapgate.events.guard"):
        await clock.advance(INTERVAL)
        stopped = await _stopped(follower)
    assert stopped.error.code == "credentials_unchecked"
    assert [r.getMessage() for r in caplog.records] == [
        "could not check a live stream's credentials; ending it"
    ]
    follower.close()


def _running(credential: Credential) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return credential.running > 0

    return check


def _all_stopped(followers: list[Follower]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return all(f.stopped for f in followers)

    return check
