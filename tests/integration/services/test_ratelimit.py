"""The login throttle's counters in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from zapgate.domain.errors import TooManyRequests
from zapgate.services.ratelimit import LoginThrottle, Slot
from zapgate.store.db import Database
from zapgate.store.tables.accounts import LoginAttemptRow
from zapgate.util.clock import ManualClock

ALICE = "alice@example.com"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.close()


async def _refused(throttle: LoginThrottle, account: str, address: str) -> TooManyRequests:
    with pytest.raises(TooManyRequests) as refused:
        await throttle.reserve(account, address)
    assert refused.value.code == "too_many_attempts"
    return refused.value


async def test_concurrent_attempts_each_take_their_own_slot(
    db: Database, clock: ManualClock
) -> None:
    throttle = LoginThrottle(db, clock)
    results = await asyncio.gather(
        *(throttle.reserve(ALICE, "10.0.0.1") for _ in range(60)), return_exceptions=True
    )
    slots = [r for r in results if isinstance(r, Slot)]
    refused = [r for r in results if isinstance(r, TooManyRequests)]
    assert len(slots) == throttle.policy.per_pair
    assert len(refused) == 60 - throttle.policy.per_pair


async def test_processes_sharing_a_database_share_the_counters(
    database_url: str, db: Database, clock: ManualClock
) -> None:
    other_db = Database(database_url)
    try:
        here, there = LoginThrottle(db, clock), LoginThrottle(other_db, clock)
        for _ in range(3):
            await here.reserve(ALICE, "10.0.0.1")
        for _ in range(2):
            await there.reserve(ALICE, "10.0.0.1")
        await _refused(here, ALICE, "10.0.0.1")
        await _refused(there, ALICE, "10.0.0.1")
    finally:
        await other_db.close()


async def test_a_spent_window_says_when_it_ends_and_refusals_do_not_extend_it(
    db: Database, clock: ManualClock
) -> None:
    throttle = LoginThrottle(db, clock)
    for _ in range(5):
        await throttle.reserve(ALICE, "10.0.0.1")
    await clock.advance(600)
    refused = await _refused(throttle, ALICE, "10.0.0.1")
    assert refused.retry_after == pytest.approx(300)
    for _ in range(20):  # hammering while refused counts nowhere
        await _refused(throttle, ALICE, "10.0.0.1")
    await clock.advance(301)
    await throttle.reserve(ALICE, "10.0.0.1")


async def test_a_success_gives_back_its_slot_of_the_shared_counters(
    db: Database, clock: ManualClock
) -> None:
    # Thirty members behind one office address sign in many times a day.
    throttle = LoginThrottle(db, clock)
    for n in range(throttle.policy.per_address + 10):
        slot = await throttle.reserve(f"member{n}@example.com", "10.0.0.1")
        await throttle.succeeded(slot)
    await throttle.reserve("one-more@example.com", "10.0.0.1")


async def test_guesses_from_everywhere_spend_the_account_but_not_its_usual_address(
    db: Database, clock: ManualClock
) -> None:
    throttle = LoginThrottle(db, clock)
    policy = throttle.policy
    await throttle.succeeded(await throttle.reserve(ALICE, "192.0.2.10"))  # her usual place
    for n in range(policy.per_account):
        await throttle.reserve(ALICE, f"198.51.100.{n}")
    await _refused(throttle, ALICE, "203.0.113.1")  # a new address: the account is spent
    # The same address, shared with a guesser who spent its address budget on others:
    for n in range(policy.per_address):
        await throttle.reserve(f"victim{n}@example.com", "192.0.2.10")
    await _refused(throttle, "someone@example.com", "192.0.2.10")
    slot = await throttle.reserve(ALICE, "192.0.2.10")
    assert [scope for scope, _, _ in slot.counted] == ["pair"]


async def test_a_trusted_address_is_forgotten_after_a_while(
    db: Database, clock: ManualClock
) -> None:
    throttle = LoginThrottle(db, clock)
    await throttle.succeeded(await throttle.reserve(ALICE, "192.0.2.10"))
    await clock.advance(throttle.policy.trust_for + 1)
    slot = await throttle.reserve(ALICE, "192.0.2.10")
    assert [scope for scope, _, _ in slot.counted] == ["pair", "address", "account"]


async def test_spent_counters_are_pruned_and_remembered_successes_kept(
    db: Database, clock: ManualClock
) -> None:
    throttle = LoginThrottle(db, clock)
    await throttle.succeeded(await throttle.reserve(ALICE, "192.0.2.10"))
    await throttle.reserve("bob@example.com", "198.51.100.7")
    await clock.advance(throttle.policy.window + 1)
    await throttle.reserve("carol@example.com", "203.0.113.1")  # prunes first
    async with db.read() as s:
        rows = (await s.execute(select(LoginAttemptRow.scope, LoginAttemptRow.subject))).all()
    subjects = {(scope, subject) for scope, subject in rows}
    assert ("pair", f"192.0.2.10 {ALICE}") in subjects  # her success is remembered
    assert not any("bob@" in subject or "198.51" in subject for _, subject in subjects)
    async with db.read() as s:
        count = await s.scalar(select(func.count()).select_from(LoginAttemptRow))
    assert count == len(subjects) == 4  # Alice's pair + Carol's three counters


async def test_long_subjects_are_stored_by_digest(db: Database, clock: ManualClock) -> None:
    throttle = LoginThrottle(db, clock)
    account = "a" * 300 + "@example.com"
    for _ in range(5):
        await throttle.reserve(account, "10.0.0.1")
    await _refused(throttle, account, "10.0.0.1")
    await throttle.reserve("a" * 299 + "b@example.com", "10.0.0.1")
