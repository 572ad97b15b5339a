"""``zapgate serve`` as a real process on a loopback port, for tests that drive it with
blocking clients (schemathesis). A process, not a thread: the server's own use of the
``random`` module (retry jitter) would otherwise show up inside Hypothesis' strategies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a simulator server: ``settings`` are ``ZAPGATE_*`` names, lower
    case without the prefix."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZAPGATE_")}
    given = {f"ZAPGATE_{name.upper()}": value for name, value in settings.items()}
    return clean | {
        "ZAPGATE_DATA_DIR": str(data_dir),
        "ZAPGATE_DATABASE_URL": database_url,
        "ZAPGATE_SECRET_KEY": "k" * 40,
        "ZAPGATE_ENGINE": "simulator",
        "ZAPGATE_ARGON2_TIME_COST": "1",
        "ZAPGATE_ARGON2_MEMORY_KIB": "1024",
        **given,
    }


@contextmanager
def serve_process(env: dict[str, str], log: Path) -> Iterator[str]:
    """Run the server until the block ends; yields its base URL. Its output goes to ``log``."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zapgate.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
