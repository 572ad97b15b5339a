"""`zapgate serve` on SQLite stays one node: cluster settings and a second server on the
same file are refused at start, each with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SERVE = [sys.executable, "-m", "zapgate.cli", "serve", "--engine", "simulator", "--port", "1"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZAPGATE_")}
    return clean | {"ZAPGATE_DATA_DIR": str(tmp_path / "data"), **extra}


def test_cluster_mode_on_sqlite_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        SERVE, env=_env(tmp_path, ZAPGATE_NODE_ID="a"), capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert b"needs PostgreSQL" in done.stderr
    assert b"Traceback" not in done.stderr


def test_a_second_server_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "data" / "zapgate.db"
    database.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from zapgate.cluster.startup import SqliteServerLock as L; "
            f"lock = L('sqlite+aiosqlite:///{database}'); lock.acquire(); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        done = subprocess.run(SERVE, env=_env(tmp_path), capture_output=True, timeout=60)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
    assert done.returncode == 1
    assert b"another zapgate server already runs on this SQLite database" in done.stderr
    assert b"Traceback" not in done.stderr


def test_a_first_start_makes_its_data_directory(tmp_path: Path) -> None:
    """A fresh machine: nothing exists yet where the SQLite database will live."""
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [*SERVE[:-1], str(port)]
    server = subprocess.Popen(
        command, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60  # a real process: polled with a deadline
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else b""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        assert (tmp_path / "data" / "zapgate.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()
