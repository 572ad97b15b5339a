"""One backoff policy for reconnects, outbox retries and webhook retries."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffConfig:
    min_delay: float = 1.0
    max_delay: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2
    """Fraction of the delay drawn at random either way, so peers never retry in step."""

    def __post_init__(self) -> None:
        if self.min_delay <= 0:
            raise ValueError("min_delay must be positive")
        if self.max_delay < self.min_delay:
            raise ValueError("max_delay must be at least min_delay")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``attempt`` (1-based), jittered, capped."""
        base = min(self.max_delay, self.min_delay * self.factor ** max(0, attempt - 1))
        if self.jitter:
            spread = base * self.jitter
            base += (rng or random).uniform(-spread, spread)
        return max(self.min_delay * (1 - self.jitter), min(base, self.max_delay))


class Backoff:
    """Counts attempts; ``next_delay()`` grows until ``reset()`` after a success."""

    def __init__(self, config: BackoffConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.attempt = 0
        self._rng = rng

    def next_delay(self) -> float:
        self.attempt += 1
        return self.config.delay(self.attempt, self._rng)

    def reset(self) -> None:
        self.attempt = 0
