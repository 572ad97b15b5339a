"""Run Alembic migrations programmatically (no alembic.ini needed).

Every server start and CLI command brings the schema up to date. Alembic reports each
of its steps at INFO, nine lines even when there is nothing to do, so its loggers stay
at WARNING (``logs.py``) and :func:`upgrade` says in one line what it migrated, if
anything.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _pending(cfg: Config, connection: Connection, revision: str) -> tuple[str | None, list[Script]]:
    """The current revision and the steps from there up to ``revision``, in order."""
    current = MigrationContext.configure(connection).get_current_revision()
    steps = ScriptDirectory.from_config(cfg).iterate_revisions(revision, current or "base")
    return current, list(reversed(list(steps)))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> list[str]:
    """Migrate the database behind ``engine`` up to ``revision``; the revisions it ran."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def _run(connection: Connection) -> tuple[str | None, list[Script]]:
        current, steps = _pending(cfg, connection, revision)
        if steps:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
        return current, steps

    async with engine.begin() as conn:
        current, steps = await conn.run_sync(_run)
    if steps and current is None:
        log.info("created the database schema at revision %s", steps[-1].revision)
    elif steps:
        done = "; ".join(f"{step.revision} ({step.doc})" for step in steps)
        log.info("migrated the database from revision %s: %s", current, done)
    return [step.revision for step in steps]


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def _run(connection: object) -> None:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)
