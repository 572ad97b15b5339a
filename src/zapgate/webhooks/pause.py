"""A webhook endpoint that keeps failing is paused: one probe at a time, not a request
per delivery.

Without it a dead receiver gets every new delivery at once, up to the endpoint's
concurrency, each one claimed, sent, failed and recorded: at a few thousand events per
second that costs the server more than everything else it does (``bench/brokers.py``
with its failing webhook), and hammers a receiver that is trying to come back.

After ``after`` failed attempts in a row the endpoint is paused: its worker sends one
delivery (the newest one due: old ones may be refused for themselves) every ``every``
seconds of the clock, and nothing else. The first success ends the pause and the
deliveries that fell due meanwhile go out, oldest due first. Nothing is skipped by
the pause: deliveries not tried stay pending and due, and those whose retry window
passes meanwhile are failed before each probe, as an attempt would have failed them
(``outcomes.expire_overdue``). A changed endpoint (its URL fixed) ends the pause at
once; a redelivery asked by hand or a test event makes the next probe immediate.
Deliveries whose event is gone from the log fail for themselves and do not count.

Per worker, in memory, seeded from the streak the outcome recorder keeps in the
webhook's row: a restarted server (or a cluster's new leader) starts paused with its
first probe at once.

Ordered endpoints (exports, ordered webhooks) are not paused here: they already send
one batch at a time, held back by the retry of the first that failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta


class FailurePause:
    def __init__(self, *, after: int, every: float, failed_in_a_row: int = 0) -> None:
        """``failed_in_a_row``: the endpoint's streak as recorded (``webhooks``'
        ``failure_streak``), so a restarted server, or a new leader of a cluster, goes on
        probing (the first probe at once) instead of finding out again."""
        if after < 1:
            raise ValueError("after must be at least 1")
        self._after = after
        self._every = timedelta(seconds=every)
        self.failed_in_a_row = max(0, failed_in_a_row)
        self._probe_at: datetime | None = None
        """When the next probe may go (None: now)."""
        self._asked = False
        """A probe was asked for (a redelivery, a test): the failure of one already in
        flight does not push it back."""

    @property
    def paused(self) -> bool:
        return self.failed_in_a_row >= self._after

    def attempted(self, ok: bool, now: datetime) -> bool:
        """Note one attempt's outcome; True when it paused the endpoint."""
        if ok:
            self.end()
            return False
        was = self.paused
        self.failed_in_a_row += 1
        if self.paused and not self._asked:
            self._probe_at = now + self._every
        return self.paused and not was

    def end(self) -> None:
        self.failed_in_a_row = 0
        self._probe_at = None
        self._asked = False

    def probe_now(self) -> None:
        if self.paused:
            self._probe_at = None
            self._asked = True

    def probing(self) -> None:
        """A probe was claimed: what was asked for is on its way."""
        self._asked = False

    def seconds_to_probe(self, now: datetime) -> float:
        """0 when a probe may go now."""
        if self._probe_at is None:
            return 0.0
        return max(0.0, (self._probe_at - now).total_seconds())
