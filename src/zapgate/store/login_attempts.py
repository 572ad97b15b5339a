"""Login throttle counters: atomic per-window counts shared by every server process.

Each counter is one ``login_attempts`` row counting the attempts of its current window,
which starts with the first attempt counted after the previous window ended. Counting
is one upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``): on SQLite the single
writer serializes it, on PostgreSQL the row lock does, so concurrent attempts each get
their own number and no two see the same "4 of 5".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.store.tables.accounts import LoginAttemptRow
from zapgate.store.types import UTCDateTime

T = LoginAttemptRow


@dataclass(frozen=True, slots=True)
class Counted:
    attempts: int
    """Attempts in the window, this one included."""
    window_start: datetime
    last_success_at: datetime | None


async def count_attempt(
    s: AsyncSession, scope: str, subject: str, *, now: datetime, window: timedelta
) -> Counted:
    """Count one attempt on ``(scope, subject)`` and answer the count it made."""
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(T).values(scope=scope, subject=subject, attempts=1, window_start=now)
    expired = T.window_start <= now - window
    upsert = stmt.on_conflict_do_update(
        index_elements=[T.scope, T.subject],
        set_={
            "attempts": case((expired, 1), else_=T.attempts + 1),
            "window_start": case((expired, literal(now, UTCDateTime())), else_=T.window_start),
        },
    )
    returning = upsert.returning(T.attempts, T.window_start, T.last_success_at)
    row = (await s.execute(returning)).one()
    return Counted(attempts=row[0], window_start=row[1], last_success_at=row[2])


async def release_attempt(
    s: AsyncSession, scope: str, subject: str, *, window_start: datetime
) -> None:
    """Give back one attempt counted in the window that began at ``window_start`` (a
    window that has since restarted owes nothing)."""
    await s.execute(
        update(T)
        .where(
            T.scope == scope,
            T.subject == subject,
            T.window_start == window_start,
            T.attempts > 0,
        )
        .values(attempts=T.attempts - 1)
    )


async def record_success(s: AsyncSession, scope: str, subject: str, *, now: datetime) -> None:
    """Forget the counted attempts of ``(scope, subject)`` and remember a success."""
    await s.execute(
        update(T)
        .where(T.scope == scope, T.subject == subject)
        .values(attempts=0, last_success_at=now)
    )


async def prune(s: AsyncSession, *, now: datetime, window: timedelta, remember: timedelta) -> int:
    """Delete counters whose window is over and that hold no success still remembered.

    Rows a login holds are skipped, not waited for (PostgreSQL): a login locks its
    counters in a fixed order, a bulk delete would lock them in any order, and the two
    could deadlock."""
    spent = (
        select(T.scope, T.subject)
        .where(
            T.window_start <= now - window,
            or_(T.last_success_at.is_(None), T.last_success_at <= now - remember),
        )
        .with_for_update(skip_locked=True)
    )
    result = await s.execute(delete(T).where(tuple_(T.scope, T.subject).in_(spent)))
    return int(getattr(result, "rowcount", 0) or 0)
