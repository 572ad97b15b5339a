"""How datetimes are written in JSON: ISO 8601, UTC, ending in ``Z``.

The API's response models write them so; payloads built by hand (events, webhooks,
streams) use :func:`iso_utc`, so a receiver sees the same text as ``GET`` answers.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
