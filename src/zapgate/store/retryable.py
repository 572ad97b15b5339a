"""Which database errors are worth trying again: the database was unreachable or busy,
or PostgreSQL aborted the transaction to break a deadlock or a serialization conflict.
Anything else (a constraint, a bug) fails the same way again."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
"""``deadlock_detected`` and ``serialization_failure``: the other transaction went on."""


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | OSError):
        return True
    if isinstance(exc, DBAPIError):
        return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
    return False
