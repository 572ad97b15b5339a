"""Keyset pagination with opaque cursors.

A cursor encodes the sort key of the last item returned; the next page starts after
it. Cursors are base64url JSON, tamper-evident only in that a bad one is a clear 422.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from zapgate.domain.errors import Invalid
from zapgate.domain.pages import MAX_INT64, MAX_LIMIT

T = TypeVar("T")

"""The largest integer a database column (and so an event id or a cursor) can hold."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("cursor is not valid", code="invalid_cursor") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise Invalid("cursor is not valid", code="invalid_cursor")
    for value in values:
        if value is not None and not _fits(value):
            raise Invalid("cursor is not valid", code="invalid_cursor")
    return values


def _fits(value: object) -> bool:
    """A value a query can bind: text, or a finite number within 64 bits (JSON also
    decodes ``NaN``, ``Infinity`` and integers of any size)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -MAX_INT64 - 1 <= value <= MAX_INT64
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str)


def check_limit(limit: int) -> int:
    if limit < 1 or limit > MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", code="invalid_limit")
    return limit


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_HasId)


def page_by_id(rows: list[R], limit: int) -> Page[R]:
    """A page from ``limit + 1`` rows fetched in id order (the extra row means "more")."""
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more and items else None)
