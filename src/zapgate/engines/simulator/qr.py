"""Identifiers the simulated network hands out: QR codes, pairing codes, ids, LIDs.

They are drawn from ``os.urandom`` rather than the seeded RNG on purpose: a restarted
simulator with the same seed must never hand out a message id or a QR code twice.
The seed governs behaviour (which sends fail), not identity.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os

QR_TOTAL = 6
"""Codes shown per linking attempt, like WhatsApp Web."""
QR_FIRST_TTL = 60.0
QR_NEXT_TTL = 20.0

PAIRING_TTL = 180.0
"""A pairing code is valid for about three minutes."""
PAIRING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTVWXYZ"
"""No 0/O, 1/I or U: nothing a person could misread while typing it on a phone."""


def qr_ttl(index: int) -> float:
    """Lifetime of code number ``index`` (1-based)."""
    return QR_FIRST_TTL if index == 1 else QR_NEXT_TTL


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def qr_code() -> str:
    """A code shaped like whatsmeow's: ``2@ref,noise key,identity key,adv secret``."""
    ref = "2@" + _b64(os.urandom(48))
    return ",".join((ref, _b64(os.urandom(32)), _b64(os.urandom(32)), _b64(os.urandom(32))))


def pairing_code() -> str:
    """``ABCD-EFGH``: eight characters of :data:`PAIRING_ALPHABET`."""
    chars = [PAIRING_ALPHABET[b % len(PAIRING_ALPHABET)] for b in os.urandom(8)]
    return "".join(chars[:4]) + "-" + "".join(chars[4:])


def normalize_pairing_code(raw: str) -> str:
    """What the phone's keyboard accepts: case and the dash do not matter."""
    clean = raw.strip().upper().replace("-", "").replace(" ", "")
    return clean[:4] + "-" + clean[4:] if len(clean) == 8 else clean


def phone_message_id() -> str:
    """An id as a customer's Android phone makes them (``3A`` + 18 hex digits)."""
    return "3A" + os.urandom(9).hex().upper()


# Every simulated message needs its sender's LID: hash each number once.
@functools.lru_cache(maxsize=65_536)
def lid_for(phone: str) -> str:
    """A stable LID for ``phone``: the same number always gets the same LID.

    Real LIDs are opaque 14-15 digit numbers unrelated to the phone number; a hash
    gives the same look while staying stable across restarts without being stored.
    """
    digest = int.from_bytes(hashlib.sha256(f"lid:{phone}".encode()).digest()[:8], "big")
    return f"{10**13 + digest % (9 * 10**13)}@lid"


def group_jid_for(name: str) -> str:
    """A stable group JID for a group known only by name (``120363…@g.us``)."""
    digest = int.from_bytes(hashlib.sha256(f"group:{name}".encode()).digest()[:8], "big")
    return f"120363{digest % 10**12:012d}@g.us"
