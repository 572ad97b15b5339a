from __future__ import annotations

from pathlib import Path

from zapgate.engines.neonize.doctor import run_checks


def test_doctor_checks_the_library_and_the_data_directory(tmp_path: Path) -> None:
    results = {r.name: r for r in run_checks(tmp_path)}
    assert set(results) == {"neonize", "neonize library", "libmagic", "ffmpeg",
                            "engine data directory"}
    assert results["neonize"].ok
    assert "0.5.2" in results["neonize"].detail
    assert results["neonize library"].ok
    assert results["engine data directory"].ok


def test_doctor_reports_an_unusable_data_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = next(r for r in run_checks(blocker) if r.name == "engine data directory")
    assert not result.ok
    assert "not writable" in result.detail
