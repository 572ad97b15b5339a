"""Migrations run the same on SQLite and PostgreSQL: from empty, down and up again."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import _pg_url, pg_admin
from zapgate.store.migrate import MIGRATIONS, alembic_config, downgrade, upgrade
from zapgate.store.tables import Base


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind (PostgreSQL: created here, dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        return
    name = f"zapgate_mig_{uuid.uuid4().hex[:10]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def test_upgrade_from_empty_then_round_trip(empty_url: str) -> None:
    engine = create_async_engine(empty_url)
    try:
        await upgrade(engine)
        assert await _tables(empty_url) == set(Base.metadata.tables)
        await downgrade(engine, "base")
        assert await _tables(empty_url) == set()
        await upgrade(engine)
        assert await _tables(empty_url) == set(Base.metadata.tables)
    finally:
        await engine.dispose()


async def test_migrations_build_exactly_the_models_schema(empty_url: str) -> None:
    """Columns, indexes and constraints as ``store/tables/`` declares them, no more, no less;
    the partial indexes (outbox claims, ordered webhook claims) keep their conditions
    (autogenerate does not compare those)."""

    def schema(conn: Connection) -> tuple[list[Any], dict[str, Any]]:
        drift = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        indexes = {
            ix["name"]: ix
            for table in ("messages", "webhook_deliveries")
            for ix in inspect(conn).get_indexes(table)
        }
        return drift, indexes

    engine = create_async_engine(empty_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            drift, indexes = await conn.run_sync(schema)
    finally:
        await engine.dispose()
    assert drift == []
    for name, condition in (
        ("ix_messages_conn_due", "next_attempt_at IS NOT NULL"),
        ("ix_webhook_deliveries_hook_pending", "'pending'"),
        ("ix_messages_media", "media_id IS NOT NULL"),
    ):
        options = indexes[name]["dialect_options"]
        where = options.get("postgresql_where") or options.get("sqlite_where")
        assert condition in str(where), name


def test_single_linear_history() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "migrations must form one linear chain"
    assert MIGRATIONS.is_dir()


async def test_upgrade_runs_and_reports_only_the_missing_steps(
    empty_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    script = ScriptDirectory.from_config(alembic_config(empty_url))
    revisions = [s.revision for s in reversed(list(script.walk_revisions()))]
    engine = create_async_engine(empty_url)
    try:
        with caplog.at_level(logging.INFO, logger="zapgate.store.migrate"):
            assert await upgrade(engine, revisions[1]) == revisions[:2]
            assert caplog.messages == [f"created the database schema at revision {revisions[1]}"]
            caplog.clear()
            assert await upgrade(engine) == revisions[2:]
            assert len(caplog.messages) == 1
            assert caplog.messages[0].startswith(
                f"migrated the database from revision {revisions[1]}: {revisions[2]} ("
            )
            caplog.clear()
            assert await upgrade(engine) == []
            assert caplog.messages == []
    finally:
        await engine.dispose()
