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
_random = bytearray()
"""Random bytes read ahead from the OS, eight per id (one read per 512 ids)."""


def _forget_random() -> None:
    # A forked child must not hand out the parent's next random bits.
    _random.clear()


os.register_at_fork(after_in_child=_forget_random)


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
        if not _random:
            _random.extend(os.urandom(4096))
        rand_b = int.from_bytes(_random[-8:], "big") & ((1 << 62) - 1)
        del _random[-8:]
    # 48 bits of milliseconds, version 7, 12 bits of sequence, variant 0b10, 62 random
    # bits: formatted directly (uuid.UUID(int=...) then str() took twice as long).
    digits = f"{ms & 0xFFFF_FFFF_FFFF:012x}7{seq:03x}{(0b10 << 62) | rand_b:016x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def is_id(value: str) -> bool:
    """True when ``value`` looks like an id this module produces."""
    try:
        return uuid.UUID(value).version == 7 and len(value) == 36
    except (ValueError, AttributeError, TypeError):
        return False
