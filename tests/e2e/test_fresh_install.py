"""A plain ``pip install`` of the project, with no extras, gives a working default engine.

A fresh virtualenv installs the project from this checkout the way a newcomer would
(pip reaches its usual indexes; its wheel cache keeps this to about a minute), then,
outside the checkout and without its sources on the path, ``zapgate doctor`` and the
engine factory must find the neonize engine usable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
CHECK_ENGINE = """
import asyncio
from zapgate.config import load_settings
from zapgate.engines.factory import build_engine, ensure_engine_usable
from zapgate.util.clock import SystemClock

settings = load_settings()
asyncio.run(ensure_engine_usable(settings))
print(build_engine(settings, SystemClock()).name)
"""


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.timeout(600)
def test_pip_install_without_extras_brings_a_usable_neonize_engine(tmp_path: Path) -> None:
    # Nothing of this checkout or of the test run may leak into the fresh install.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZAPGATE_", "PYTHON", "VIRTUAL_ENV"))
    } | {"ZAPGATE_DATA_DIR": str(tmp_path / "data")}
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, 120)
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "-q", str(PROJECT)], tmp_path, env, 480)

    checked = subprocess.run(
        [str(venv / "bin" / "zapgate"), "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    doctor = checked.stdout
    # Without internet (as on this test machine) the WhatsApp check fails, honestly;
    # nothing else may.
    failed = [line for line in doctor.splitlines() if line.startswith("[FAIL]")]
    assert all(line.startswith("[FAIL] whatsapp servers:") for line in failed), doctor
    assert checked.returncode == (1 if failed else 0), doctor
    assert "[ok  ] neonize: neonize 0.5.2 importable" in doctor, doctor
    assert "[ok  ] neonize library: Go shared library" in doctor, doctor
    assert run([python, "-c", CHECK_ENGINE], tmp_path, env, 120).split() == ["neonize"]
    installed = run([python, "-c", "import zapgate; print(zapgate.__file__)"], tmp_path, env, 60)
    assert installed.startswith(str(venv)), installed
