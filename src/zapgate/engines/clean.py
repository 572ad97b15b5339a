"""What engines report, without the NUL characters the databases cannot all store.

Anyone can put a NUL (U+0000) in a WhatsApp message, a push name, a file name, a group
subject or a vCard; PostgreSQL refuses it (``domain/text.py``), and an incoming message
holding one failed its insert and was lost. Unlike our users' input, WhatsApp's cannot
be refused, so it is cleaned where it enters the server, once for every engine and
every consumer: the supervisor's sink (every engine event, ``sessions/supervisor.py``)
and the engine answers that get stored (``services/lookups.py``, groups).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from operator import attrgetter
from typing import Any, TypeVar, cast

from zapgate.domain.text import NUL

T = TypeVar("T")

# Values that hold no text of their own. Dicts are left as they are: the only ones in
# engine events are media handles, opaque to the rest of the system and never stored.
_NO_TEXT = frozenset({type(None), bool, int, float, bytes, dict})
_Shape = tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]
_SHAPES: dict[type, _Shape | None] = {}


def clean_text(value: T) -> T:
    """``value`` with NUL removed from every string in it, nested dataclasses, tuples and
    lists included; the same object when there was none (the usual case, no copy).

    Every inbound message goes through here, so the walk is kept cheap: exact type
    checks, and each dataclass's fields read in one call.
    """
    return cast(T, _clean(value))


def _clean(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value.replace(NUL, "") if NUL in value else value
    if kind in _NO_TEXT:
        return value
    if kind is tuple or kind is list:
        items = [_clean(item) for item in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if kind is list else tuple(items)
    shape = _shape(kind)
    if shape is None:
        # Enums (their values are ours), datetimes, str subclasses.
        if isinstance(value, str) and NUL in value:
            return value.replace(NUL, "")
        return value
    names, read = shape
    changes: dict[str, Any] = {}
    for name, item in zip(names, read(value), strict=True):
        if type(item) is str:
            if NUL in item:
                changes[name] = item.replace(NUL, "")
        elif type(item) not in _NO_TEXT:
            cleaned = _clean(item)
            if cleaned is not item:
                changes[name] = cleaned
    return replace(value, **changes) if changes else value


def _shape(cls: type) -> _Shape | None:
    """A dataclass's field names and a reader of their values; None for other types."""
    if cls in _SHAPES:
        return _SHAPES[cls]
    shape: _Shape | None = None
    if is_dataclass(cls):
        names = tuple(f.name for f in fields(cls))
        read = attrgetter(*names)
        shape = (names, read) if len(names) > 1 else (names, lambda v: (read(v),))
    _SHAPES[cls] = shape
    return shape
