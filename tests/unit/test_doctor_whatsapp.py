"""`zapgate doctor` says honestly whether WhatsApp's servers resolve and answer."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from zapgate import doctor
from zapgate.config import EngineName, Settings


def _settings(tmp_path: Path, engine: EngineName) -> Settings:
    return Settings(_env_file=None, engine=engine, data_dir=tmp_path)


async def _resolves(host: str, _port: int) -> list[str]:
    assert host == "web.whatsapp.com"
    return ["192.0.2.10"]


async def _no_dns(_host: str, _port: int) -> list[str]:
    raise socket.gaierror(-2, "Name or service not known")


async def _answers(_address: str, _port: int, _timeout: float) -> None:
    return None


async def _refuses(_address: str, _port: int, _timeout: float) -> None:
    raise ConnectionRefusedError(111, "Connection refused")


async def _hangs(_address: str, _port: int, _timeout: float) -> None:
    raise TimeoutError


async def test_reachable_servers_pass(tmp_path: Path) -> None:
    result = await doctor.check_whatsapp(
        _settings(tmp_path, EngineName.NEONIZE), resolve=_resolves, reach=_answers
    )
    assert result.ok
    assert "192.0.2.10" in result.detail


@pytest.mark.parametrize(
    ("resolve", "reach", "words"),
    [
        (_no_dns, _answers, "does not resolve"),
        (_resolves, _refuses, "does not answer on port 443"),
        (_resolves, _hangs, "does not answer on port 443"),
    ],
)
async def test_unreachable_servers_fail_with_the_engine_and_warn_with_the_simulator(
    tmp_path: Path, resolve: doctor.Resolve, reach: doctor.Reach, words: str
) -> None:
    real = await doctor.check_whatsapp(
        _settings(tmp_path, EngineName.NEONIZE), resolve=resolve, reach=reach
    )
    assert (real.ok, real.optional) == (False, False)
    assert words in real.detail
    simulated = await doctor.check_whatsapp(
        _settings(tmp_path, EngineName.SIMULATOR), resolve=resolve, reach=reach
    )
    assert (simulated.ok, simulated.optional) == (False, True)
