"""UTCDateTime's one-step SQLite binding stores what the two-step path stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from zapgate.store.types import UTCDateTime

SAMPLES = [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 17, tzinfo=timezone(timedelta(hours=-3))),
    datetime(2026, 11, 22, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(1, 1, 1, tzinfo=UTC),
]


@pytest.mark.parametrize("value", SAMPLES)
def test_sqlite_text_is_unchanged(value: datetime) -> None:
    column, dialect = UTCDateTime(), sqlite.dialect()
    fast = column.bind_processor(dialect)
    generic = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None
    assert generic is not None
    assert fast(value) == generic(column.process_bind_param(value, dialect))


def test_sqlite_refuses_naive_and_passes_none() -> None:
    fast = UTCDateTime().bind_processor(sqlite.dialect())
    assert fast is not None
    assert fast(None) is None
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 1, 1))


def test_other_databases_keep_the_generic_path() -> None:
    column, dialect = UTCDateTime(), postgresql.dialect()
    bound = column.bind_processor(dialect)
    value = SAMPLES[1]
    converted = bound(value) if bound is not None else column.process_bind_param(value, dialect)
    assert converted == value.astimezone(UTC)


def test_sqlite_binding_remembers_only_the_same_instant() -> None:
    bind = UTCDateTime().bind_processor(sqlite.dialect())
    assert bind is not None
    first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    same_instant_other_zone = first.astimezone(timezone(timedelta(hours=-3)))
    later = first + timedelta(microseconds=1)
    assert bind(first) == bind(first) == "2026-01-02 03:04:05.000000"
    assert bind(same_instant_other_zone) == "2026-01-02 03:04:05.000000"
    assert bind(later) == "2026-01-02 03:04:05.000001"
    assert bind(first) == "2026-01-02 03:04:05.000000"
    with pytest.raises(ValueError, match="naive"):
        bind(first.replace(tzinfo=None))
