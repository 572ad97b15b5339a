"""Tables, one module per area: the ORM rows. Services read and write them and shape what the
API shows from them (``services/payloads.py``); the edges see a row only as a type.

Importing any of them loads every area, so ``Base.metadata`` (Alembic's target, the
migrations test, ``create_all`` in tests) always holds every table and every foreign
key finds the table it names.
"""

from zapgate.store.tables import (
    accounts,
    cluster,
    connections,
    conversations,
    events,
    messages,
    webhooks,
)
from zapgate.store.tables.base import Base

__all__ = [
    "Base",
    "accounts",
    "cluster",
    "connections",
    "conversations",
    "events",
    "messages",
    "webhooks",
]
