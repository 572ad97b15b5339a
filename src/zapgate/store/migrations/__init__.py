"""Alembic migrations (run through ``zapgate migrate`` or at ``zapgate serve``)."""
