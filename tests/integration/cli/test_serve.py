"""`zapgate serve` as a real process: it answers, and SIGTERM/SIGINT shut it down cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.broken_neonize import MISSING, broken_pythonpath


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_stops_gracefully(env: dict[str, str], sig: signal.Signals) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zapgate.cli",
            "serve",
            "--port",
            str(port),
            "--engine",
            "simulator",
        ],
        env=env
        | {
            "ZAPGATE_ADMIN_EMAIL": "a@example.com",
            "ZAPGATE_ADMIN_PASSWORD": "a-pass-123",
            "ZAPGATE_LOG_LEVEL": "INFO",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"email": "a@example.com", "password": "a-pass-123"},
        )
        assert token.status_code == 200
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # uvicorn shuts down, then re-raises the signal so the exit status tells why it ended.
    assert proc.returncode in (0, -sig, 128 + sig), output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


def test_serve_refuses_an_engine_it_cannot_load(env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "zapgate.cli", "serve", "--port", str(_free_port())],
        env=env | {"ZAPGATE_ENGINE": "neonize", "PYTHONPATH": broken_pythonpath(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"error: ZAPGATE_ENGINE=neonize but the neonize library cannot be imported "
        f"(ModuleNotFoundError: {MISSING}): "
        f"pip install neonize==0.5.2, or set ZAPGATE_ENGINE=simulator"
    )
