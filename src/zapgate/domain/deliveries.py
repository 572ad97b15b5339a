"""Delivery vocabulary: where one event stands on its way to one destination (a webhook
or an event export)."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Queued, or waiting for its next retry."""
    DELIVERED = "delivered"
    """The destination took it."""
    FAILED = "failed"
    """Given up: the retry window ran out, or its event was pruned before it went."""
