"""The webhook signature: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.

The timestamp is inside the signed text so a captured request cannot be replayed
later with a fresh ``t``; receivers reject old timestamps (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does; kept here for tests and for Python receivers to copy."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
