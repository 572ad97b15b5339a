"""How a live stream tells its consumer it ended (the edges turn these into close codes)."""

from __future__ import annotations

from zapgate.domain.errors import DomainError


class SlowConsumer(Exception):
    """The consumer fell more than the queue size behind the live events."""

    def __init__(self, last_id: int) -> None:
        super().__init__(f"consumer too slow; resume from id {last_id}")
        self.last_id = last_id


class StreamStopped(Exception):
    """The stream's credential no longer holds; ``error`` says why, with a stable code."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error
