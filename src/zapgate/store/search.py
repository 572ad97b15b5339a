"""Substring search over text a user typed, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement


def contains_text(
    text: str, *columns: QueryableAttribute[Any] | ColumnElement[Any]
) -> ColumnElement[bool]:
    """Any of ``columns`` holds ``text``, case-insensitively and literally.

    ``autoescape`` escapes LIKE's wildcards (``%``, ``_``) and its escape character in
    ``text`` and says which escape character that is: without it ``%`` matches every row,
    and PostgreSQL alone would read a backslash as an escape. Both sides are lowered by the
    database (ILIKE on PostgreSQL), never the text in Python: SQLite's ``lower()`` knows
    only ASCII, so a name like "ÉRICA" would not match itself typed as it is written.
    """
    return or_(*(func.coalesce(column, "").icontains(text, autoescape=True) for column in columns))
