"""Message counts for the organization dashboard: today and a per-day series."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from zapgate.domain.messages import SENT_STATUSES, Direction
from zapgate.services.context import Principal
from zapgate.store.db import Database
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock

SERIES_DAYS = 30


class MessageStats:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def _day(self, column: Any) -> ColumnElement[Any]:
        # Days are UTC days; PostgreSQL's date() would use the session's time zone.
        if self._db.is_sqlite:
            return func.date(column)
        return func.date(func.timezone("UTC", column))

    async def summary(
        self, principal: Principal, *, connection_id: str | None = None
    ) -> dict[str, Any]:
        """Organization totals, or one connection's when ``connection_id`` is given (the
        panel's detail chart); the caller checks that the connection is the caller's."""
        today = self._clock.now().date()
        first = today - timedelta(days=SERIES_DAYS - 1)
        since = datetime.combine(first, time(0), tzinfo=UTC)
        org = principal.organization_id
        sent_day = self._day(MessageRow.sent_at)
        received_day = self._day(MessageRow.created_at)
        scope = [MessageRow.organization_id == org]
        if connection_id is not None:
            scope.append(MessageRow.connection_id == connection_id)
        async with self._db.read() as s:
            sent = (
                await s.execute(
                    select(sent_day, func.count())
                    .where(
                        *scope,
                        MessageRow.direction == Direction.OUT.value,
                        MessageRow.sent_at >= since,
                        MessageRow.status.in_(SENT_STATUSES),
                    )
                    .group_by(sent_day)
                )
            ).all()
            received = (
                await s.execute(
                    select(received_day, func.count())
                    .where(
                        *scope,
                        MessageRow.direction == Direction.IN.value,
                        MessageRow.created_at >= since,
                    )
                    .group_by(received_day)
                )
            ).all()
        sent_by = {_as_date(d): int(n) for d, n in sent}
        received_by = {_as_date(d): int(n) for d, n in received}
        series = []
        for offset in range(SERIES_DAYS):
            day = first + timedelta(days=offset)
            series.append(
                {
                    "date": day.isoformat(),
                    "sent": sent_by.get(day, 0),
                    "received": received_by.get(day, 0),
                }
            )
        return {
            "sent_today": sent_by.get(today, 0),
            "received_today": received_by.get(today, 0),
            "series": series,
        }


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
