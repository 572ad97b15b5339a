"""Fixtures for command-line tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZAPGATE_")}
    return clean | {
        "ZAPGATE_DATA_DIR": str(tmp_path / "data"),
        "ZAPGATE_DATABASE_URL": database_url,
        "ZAPGATE_SECRET_KEY": "k" * 40,
        "ZAPGATE_LOG_LEVEL": "WARNING",
        "ZAPGATE_ENGINE": "simulator",
    }
