"""Text zapgate keeps never holds the NUL character (U+0000).

PostgreSQL cannot store it, in ``text`` or ``jsonb`` ("invalid byte sequence for
encoding UTF8: 0x00"), while SQLite can: left alone, a NUL made the same request a 500
on one database and a success on the other, and an incoming message holding one failed
its whole insert. So the edges refuse it in what our users send (``api/characters.py``)
and remove it from what WhatsApp sends (``engines/clean.py``), the same on both
databases.
"""

from __future__ import annotations

NUL = "\x00"


def without_nul(text: str) -> str:
    return text.replace(NUL, "") if NUL in text else text


def nul_location(value: object) -> str | None:
    """Where a NUL is in a JSON-like value (strings, lists, tuples, dicts: keys too).

    ``""`` when ``value`` is a string holding one; ``"['plan']"`` or ``"[2]"`` when it is
    in that item (or in that key: its ``repr`` shows the ``\\x00``); ``None`` when there
    is none. Other values (numbers, models) hold no text of their own here.
    """
    if isinstance(value, str):
        return "" if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            below = nul_location(item)
            if (isinstance(key, str) and NUL in key) or below is not None:
                return f"[{key!r}]{below or ''}"
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            below = nul_location(item)
            if below is not None:
                return f"[{index}]{below}"
    return None
