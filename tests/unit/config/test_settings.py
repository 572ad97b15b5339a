from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from zapgate.config import Settings


def make(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)


def test_defaults(tmp_path: Path) -> None:
    s = make(data_dir=tmp_path)
    assert s.engine == "neonize"
    assert s.port == 8000
    assert s.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert s.is_sqlite
    assert s.sessions_per_worker == 10
    assert s.sqlite_synchronous == "full"


def test_postgres_url_is_converted() -> None:
    s = make(database_url="postgresql://u@h/db")
    assert s.resolved_database_url == "postgresql+asyncpg://u@h/db"
    assert not s.is_sqlite


@pytest.mark.parametrize(
    "kw",
    [
        {"database_url": "mysql://x"},
        {"port": 0},
        {"engine": "baileys"},
        {"admin_email": "a@b.co"},
        {"admin_email": "a@b.co", "admin_password": "short"},
        {"secret_key": "too-short"},
        {"log_level": "LOUD"},
        {"sessions_per_worker": 0},
        {"sqlite_synchronous": "off"},
    ],
)
def test_bad_settings_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        make(**kw)


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    s = make(data_dir=tmp_path / "d")
    first = s.secret()
    assert len(first) >= 32
    assert make(data_dir=tmp_path / "d").secret() == first
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZAPGATE_ENGINE", "simulator")
    monkeypatch.setenv("ZAPGATE_PORT", "9001")
    monkeypatch.setenv("ZAPGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZAPGATE_SQLITE_SYNCHRONOUS", "normal")
    s = Settings(_env_file=None)
    assert s.engine == "simulator"
    assert s.port == 9001
    assert s.sqlite_synchronous == "normal"
