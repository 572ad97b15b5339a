"""Queries by many keys, the keys bound as one parameter: JSON (``json_each``) on
SQLite, arrays on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, String, and_, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.store.db import json_text


def one_of(s: AsyncSession, column: Column[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """``column IN values`` with the values as one parameter: the SQL does not change
    with their number, so it is compiled once and, on PostgreSQL, prepared once (an
    ``IN`` list of 500 values cost more to render than to run)."""
    wanted = sorted(set(values))
    if s.get_bind().dialect.name != "sqlite":
        return column == any_(bindparam(None, wanted, type_=ARRAY(String())))
    given = func.json_each(bindparam(None, json_text(wanted), type_=String()))
    return column.in_(select(given.table_valued("value").c.value))


def by_pairs(
    s: AsyncSession,
    columns: Iterable[ColumnElement[Any]],
    first: Column[Any],
    second: Column[Any],
    pairs: Iterable[tuple[str, str]],
) -> Select[Any]:
    """``SELECT columns`` of the rows whose ``(first, second)`` is one of ``pairs``, by
    a unique index on the two columns: a join with the pairs given as one parameter
    (JSON on SQLite, two arrays on PostgreSQL), one index seek per pair.

    Not ``first IN (…) AND second IN (…)``: that is the cross product (a batch over 100
    connections and 250 customers probes 25,000 keys, and once every connection talks
    to most customers, returns most of them). Nor a row-value ``IN (VALUES …)``, which
    SQLite answers by scanning the whole table.
    """
    wanted = sorted(set(pairs))
    table = first.table
    if s.get_bind().dialect.name != "sqlite":
        arrays = (
            bindparam(None, [a for a, _ in wanted], type_=ARRAY(String())),
            bindparam(None, [b for _, b in wanted], type_=ARRAY(String())),
        )
        given = func.unnest(*arrays).table_valued("first", "second").render_derived("wanted")
        on = and_(first == given.c.first, second == given.c.second)
    else:
        pair = func.json_each(bindparam(None, json_text(wanted), type_=String()))
        given = pair.table_valued("value").alias("wanted")
        on = and_(
            first == func.json_extract(given.c.value, "$[0]"),
            second == func.json_extract(given.c.value, "$[1]"),
        )
    return select(*columns).select_from(given).join(table, on)
