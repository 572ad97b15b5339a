"""Import neonize once, early, without letting its import side effects leak into tests.

At import, neonize runs ``os.popen("uname -a").read()`` and drops the pipe, and calls
``logging.basicConfig``. The dropped pipe is finalized later, inside whichever test
runs the garbage collector, as a ResourceWarning (an error under
``filterwarnings = error``). So the import runs with ``os.popen`` answering from a
finished subprocess, and the root logger is restored afterwards.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
from typing import Any


def _finished_popen(cmd: str, mode: str = "r", buffering: int = -1) -> Any:
    result = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)
    return io.StringIO(result.stdout)


def load_neonize() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    real_popen = os.popen
    os.popen = _finished_popen
    try:
        import neonize.client  # noqa: F401  (imported once for its side effects)
    finally:
        os.popen = real_popen
        root.handlers[:] = handlers
        root.setLevel(level)
