"""Garbage-collector tuning of the server process."""

from __future__ import annotations

import subprocess
import sys


def test_server_gc_tuning_freezes_startup_objects() -> None:
    # In a child process: freezing here would keep this test run's garbage forever.
    code = (
        "import gc\n"
        "from zapgate.util.gc import GEN0_THRESHOLD, tune_for_server\n"
        "tune_for_server()\n"
        "assert gc.get_threshold()[0] == GEN0_THRESHOLD, gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
