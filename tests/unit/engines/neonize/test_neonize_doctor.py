from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zapgate import doctor
from zapgate.config import EngineName, Settings
from zapgate.engines.neonize import doctor as neonize_doctor
from zapgate.engines.neonize.doctor import CheckResult, run_checks

NEONIZE_CHECKS = ["neonize", "neonize library", "libmagic", "ffmpeg", "engine data directory"]


@pytest.fixture(autouse=True)
def whatsapp_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the internet: WhatsApp's servers answer from here."""

    async def resolve(_host: str, _port: int) -> list[str]:
        return ["192.0.2.1"]

    async def reach(_address: str, _port: int, _timeout: float) -> None:
        return None

    monkeypatch.setattr(doctor, "_resolve", resolve)
    monkeypatch.setattr(doctor, "_reach", reach)


def test_doctor_checks_the_library_and_the_data_directory(tmp_path: Path) -> None:
    results = {r.name: r for r in run_checks(tmp_path)}
    assert list(results) == NEONIZE_CHECKS
    assert results["neonize"].ok
    assert "0.5.2" in results["neonize"].detail
    assert results["neonize library"].ok
    assert results["engine data directory"].ok
    assert [name for name, r in results.items() if r.optional] == ["ffmpeg"]


def test_missing_ffmpeg_is_an_optional_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    result = neonize_doctor._ffmpeg()
    assert (result.ok, result.optional) == (False, True)
    assert "without a duration" in result.detail


def settings(tmp_path: Path, engine: EngineName) -> Settings:
    return Settings(
        _env_file=None,
        engine=engine,
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'z.db'}",
    )


async def test_zapgate_doctor_includes_the_neonize_checks(tmp_path: Path) -> None:
    results = await doctor.run_checks(settings(tmp_path, EngineName.NEONIZE))
    assert [r.name for r in results] == [
        "data directory",
        "database",
        *NEONIZE_CHECKS,
        "whatsapp servers",
    ]
    by_name = {r.name: r for r in results}
    assert all(by_name[name].ok for name in ("database", "neonize", "neonize library"))
    assert [r.name for r in results if r.optional] == ["ffmpeg"]


async def test_with_the_simulator_neonize_problems_only_warn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(_python: str) -> list[CheckResult]:
        return [
            CheckResult("neonize", False, "neonize is not installed"),
            CheckResult("neonize library", False, "not checked"),
        ]

    monkeypatch.setattr(neonize_doctor, "_library", broken)
    simulated = {
        r.name: r for r in await doctor.run_checks(settings(tmp_path, EngineName.SIMULATOR))
    }
    assert not simulated["neonize"].ok
    assert simulated["neonize"].optional
    assert "needed only with ZAPGATE_ENGINE=neonize" in simulated["neonize"].detail
    assert all(
        r.optional for name, r in simulated.items() if name in (*NEONIZE_CHECKS, "whatsapp servers")
    )
    assert not any(
        r.optional
        for name, r in simulated.items()
        if name not in (*NEONIZE_CHECKS, "whatsapp servers")
    )
    real = {r.name: r for r in await doctor.run_checks(settings(tmp_path, EngineName.NEONIZE))}
    assert (real["neonize"].ok, real["neonize"].optional) == (False, False)
    assert real["neonize"].detail == "neonize is not installed"


def test_doctor_reports_an_unusable_data_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = next(r for r in run_checks(blocker) if r.name == "engine data directory")
    assert not result.ok
    assert "not writable" in result.detail
