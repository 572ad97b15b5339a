"""What engines report, without the NUL characters the databases cannot all store.

Anyone can put a NUL (U+0000) in a WhatsApp message, a push name, a file name, a group
subject or a vCard; PostgreSQL refuses it (``domain/text.py``), and an incoming message
holding one failed its insert and was lost. Unlike our users' input, WhatsApp's cannot
be refused, so it is cleaned where it enters the server, once for every engine and
every consumer: the supervisor's sink (every engine event, ``sessions/supervisor.py``)
and the engine answers that get stored (``services/lookups.py``, groups).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar, cast

from zapgate.domain.text import NUL

T = TypeVar("T")

_FIELDS: dict[type, tuple[str, ...]] = {}


def clean_text(value: T) -> T:
    """``value`` with NUL removed from every string in it, nested dataclasses, tuples and
    lists included; the same object when there was none (the usual case, no copy).

    Dicts are left as they are: the only ones in engine events are media handles,
    opaque to the rest of the system and never stored.
    """
    return cast(T, _clean(value))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if value is None or isinstance(value, int | float | bytes | dict):
        return value
    if isinstance(value, tuple | list):
        items = [_clean(item) for item in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    if is_dataclass(value) and not isinstance(value, type):
        changes: dict[str, Any] = {}
        for name in _names(type(value)):
            item = getattr(value, name)
            cleaned = _clean(item)
            if cleaned is not item:
                changes[name] = cleaned
        return replace(value, **changes) if changes else value
    return value


def _names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names
