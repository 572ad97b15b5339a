"""One attempt at a delivery: the signed POST and what came of it.

The request carries the headers of SPEC section 5 (``X-Zapgate-Event``,
``X-Zapgate-Delivery``, ``X-Zapgate-Signature`` over the exact body sent). Any 2xx
is success; every other answer, a refused or failed connection and the deadline are
failures the recorder (``outcomes``) schedules again or gives up on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from zapgate.domain.text import without_nul
from zapgate.webhooks.claims import Due
from zapgate.webhooks.client import PostError, WebhookClient
from zapgate.webhooks.signing import signature


@dataclass(slots=True)
class Attempt:
    """A finished attempt; what the recorder reads (``outcomes.Outcome``)."""

    due: Due
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    duration_ms: int = 0
    held: bool = False
    """Not attempted: an earlier batch of the same pipeline failed before this one went
    out (``transport.Transport.depth``). Not recorded: the row stays as it was."""

    @property
    def ok(self) -> bool:
        # A broker's confirmation has no status code (``zapgate.exports``): no error is
        # success there; an HTTP answer must also be a 2xx.
        if self.error is not None:
            return False
        return self.status_code is None or 200 <= self.status_code < 300

    @property
    def delivery_id(self) -> str:
        return self.due.id

    @property
    def attempts_before(self) -> int:
        return self.due.attempts

    @property
    def claimed_due(self) -> datetime | None:
        return self.due.due_at

    @property
    def event_created_at(self) -> datetime:
        return self.due.created_at

    @property
    def event_gone(self) -> bool:
        return self.due.body is None


async def attempt(
    client: WebhookClient,
    due: Due,
    *,
    url: str,
    secret: str,
    timeout: float,
    now: datetime,
) -> Attempt:
    """POST ``due`` to ``url``, signed with ``secret``, within ``timeout`` seconds."""
    outcome = Attempt(due=due, attempted_at=now)
    if due.body is None:
        outcome.error = "event no longer in the log (retention)"
        return outcome
    headers = {
        "Content-Type": "application/json",
        "X-Zapgate-Event": due.event_type,
        "X-Zapgate-Delivery": due.id,
        "X-Zapgate-Signature": signature(secret, int(now.timestamp()), due.body),
    }
    started = time.perf_counter()
    try:
        answer = await client.post(url, due.body, headers, timeout=timeout)
        outcome.status_code = answer.status
        # The receiver's words, stored: PostgreSQL cannot hold a NUL among them.
        outcome.excerpt = without_nul(answer.excerpt.decode("utf-8", "replace")) or None
        if not outcome.ok:
            outcome.error = f"HTTP {answer.status}"
    except TimeoutError:
        outcome.error = f"timed out after {timeout:g} s"
    except PostError as exc:
        outcome.error = str(exc)[:500]
    outcome.duration_ms = int((time.perf_counter() - started) * 1000)
    return outcome
