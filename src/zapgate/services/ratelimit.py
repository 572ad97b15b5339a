"""Login throttling: each attempt takes a slot before its password is checked.

A slot is counted in the database (``store/login_attempts.py``) before the Argon2 check,
so concurrent guesses cannot all pass a check that only counted finished failures, and
every server process shares the counts. A success gives its slot back.

Counters, each per window of 15 minutes:

- ``pair``: an account from one address, 5. The guesser's own budget.
- ``address``: every account from one address, 30 (an office shares one address).
- ``account``: one account from every address, 50: a spread-out guess is bounded too.

An address from which the account signed in within the last 30 days counts only its
``pair``: however hard others hammer the account (or the address, shared with them),
its owner still signs in from where they usually do. Refused attempts count nowhere.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from zapgate.domain.errors import TooManyRequests
from zapgate.store import login_attempts
from zapgate.store.db import Database
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

PAIR = "pair"
ADDRESS = "address"
ACCOUNT = "account"

# Counters whose window ended are deleted at most this often (per process).
_PRUNE_EVERY = 600.0


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window: float = 900.0
    per_pair: int = 5
    per_address: int = 30
    per_account: int = 50
    trust_for: float = 30 * 86400.0
    """How long a successful sign-in keeps its address out of the shared counters."""


@dataclass(frozen=True, slots=True)
class Slot:
    """An attempt counted and not yet settled: the counters that counted it."""

    pair: str
    counted: tuple[tuple[str, str, datetime], ...]
    """``(scope, subject, window_start)`` of each counter that counted the attempt."""


def _subject(*parts: str) -> str:
    text = " ".join(parts)
    # E-mails reach 320 characters: longer subjects are stored by digest.
    return text if len(text) <= 200 else "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class LoginThrottle:
    def __init__(self, db: Database, clock: Clock, policy: ThrottlePolicy | None = None) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy or ThrottlePolicy()
        self._window = timedelta(seconds=self.policy.window)
        self._trust_for = timedelta(seconds=self.policy.trust_for)
        self._next_prune = 0.0

    async def reserve(self, account: str, address: str) -> Slot:
        """Count an attempt on ``account`` from ``address``, or refuse it (429
        ``too_many_attempts``) when a counter is spent; a refused attempt counts nowhere."""
        await self._prune_now_and_then()
        policy = self.policy
        now = self._clock.now()
        pair = _subject(address, account)
        async with self._db.write(in_loop=True) as s:
            counted = await login_attempts.count_attempt(
                s, PAIR, pair, now=now, window=self._window
            )
            self._refuse_over(counted, policy.per_pair, now)
            slots = [(PAIR, pair, counted.window_start)]
            trusted = (
                counted.last_success_at is not None
                and now - counted.last_success_at < self._trust_for
            )
            if not trusted:
                # Always this order (pair, address, account): transactions locking
                # counters in one order cannot deadlock on PostgreSQL.
                for scope, subject, limit in (
                    (ADDRESS, _subject(address), policy.per_address),
                    (ACCOUNT, _subject(account), policy.per_account),
                ):
                    counted = await login_attempts.count_attempt(
                        s, scope, subject, now=now, window=self._window
                    )
                    self._refuse_over(counted, limit, now)
                    slots.append((scope, subject, counted.window_start))
        return Slot(pair=pair, counted=tuple(slots))

    def _refuse_over(self, counted: login_attempts.Counted, limit: int, now: datetime) -> None:
        if counted.attempts <= limit:
            return
        # Raised inside the transaction: it rolls back, and this attempt counts nowhere.
        ends = counted.window_start + self._window
        raise TooManyRequests(
            "too many login attempts; try again later",
            retry_after=max((ends - now).total_seconds(), 1.0),
            code="too_many_attempts",
        )

    async def succeeded(self, slot: Slot) -> None:
        """The password was right: the pair starts afresh and its address is trusted;
        the shared counters get their slot back (not cleared: a guesser who owns an
        account must not reset the address budget by signing into it)."""
        now = self._clock.now()
        async with self._db.write(in_loop=True) as s:
            await login_attempts.record_success(s, PAIR, slot.pair, now=now)
            for scope, subject, window_start in slot.counted:
                if scope != PAIR:
                    await login_attempts.release_attempt(
                        s, scope, subject, window_start=window_start
                    )

    async def _prune_now_and_then(self) -> None:
        if self._clock.monotonic() < self._next_prune:
            return
        self._next_prune = self._clock.monotonic() + _PRUNE_EVERY
        async with self._db.write() as s:
            gone = await login_attempts.prune(
                s, now=self._clock.now(), window=self._window, remember=self._trust_for
            )
        if gone:
            log.debug("login counters pruned", extra={"count": gone})
