"""Time-ordered identifiers.

Ids are UUIDv7 strings: sortable by creation time, so a primary key doubles as a
stable pagination key and an index in creation order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def new_id() -> str:
    """A UUIDv7 string, strictly increasing within this process."""
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same millisecond (or a clock step back): keep order with a counter
            # in the 12-bit rand_a field; borrow the next millisecond when full.
            _seq += 1
            if _seq > 0xFFF:
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _seq = 0
        seq = _seq
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= seq << 64
    value |= 0b10 << 62
    value |= rand_b
    return str(uuid.UUID(int=value))


def is_id(value: str) -> bool:
    """True when ``value`` looks like an id this module produces."""
    try:
        return uuid.UUID(value).version == 7 and len(value) == 36
    except (ValueError, AttributeError, TypeError):
        return False
