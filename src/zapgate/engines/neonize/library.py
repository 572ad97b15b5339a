"""Loading the neonize library, and saying plainly when this machine cannot.

The server never imports neonize (see README.md). It learns whether a worker could by
running this module as a probe (``python -m zapgate.engines.neonize.library``, with the
workers' interpreter and environment) before it starts; a worker that cannot load the
library exits with :data:`EXIT_UNAVAILABLE` after writing the reason as its last line
on stderr, so the server can tell a broken install from a crash.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import cast

REQUIREMENT = "neonize==0.5.2"
"""The release the worker is written and tested against (see README.md)."""
EXIT_UNAVAILABLE = 78
"""sysexits.h's EX_CONFIG: the machine is set up wrongly, and a restart will not help."""
PROBE_TIMEOUT = 60.0
PROBE_MODULE = "zapgate.engines.neonize.library"


def fix_hint() -> str:
    return f"pip install {REQUIREMENT}, or set ZAPGATE_ENGINE=simulator"


def unavailable_message(reason: str) -> str:
    return (
        f"ZAPGATE_ENGINE=neonize but the neonize library cannot be imported ({reason}): "
        f"{fix_hint()}"
    )


def import_library(level: int) -> None:
    """Import neonize quietly and with less memory (see the comments)."""
    # httpx (a neonize dependency) imports its command-line module, which drags in
    # rich/click/pygments; nothing here uses it: ~5 MiB and ~0.3 s per worker.
    # A None entry in sys.modules makes that import fail at once (httpx catches it).
    sys.modules.setdefault("httpx._main", cast(ModuleType, None))
    with warnings.catch_warnings():
        # neonize leaks a popen() file at import; not ours to fix, not worth a warning.
        warnings.simplefilter("ignore", ResourceWarning)
        importlib.import_module("neonize.client")

        gc.collect()
    # whatsmeow's own log level follows neonize's logger.
    logging.getLogger("neonize.utils.log").setLevel(max(level, logging.INFO))


def import_or_exit(level: int) -> None:
    """:func:`import_library`, or exit with :data:`EXIT_UNAVAILABLE` and the reason."""
    try:
        import_library(level)
    except Exception as exc:  # ImportError, or OSError when ctypes cannot load the Go library
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        # Go's threads may already run: leave without the interpreter's shutdown.
        os._exit(EXIT_UNAVAILABLE)


async def library_problem(
    python: str = sys.executable, *, timeout: float = PROBE_TIMEOUT
) -> str | None:
    """Why a worker run by ``python`` could not load neonize, or None when it could.

    Run in a child process: importing neonize costs ~55 MiB, reconfigures logging and,
    when the library is broken, can abort the process that loads it.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            python,
            "-m",
            PROBE_MODULE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return f"cannot run {python}: {exc}"
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"importing it took longer than {timeout:.0f} s"
    if proc.returncode == 0:
        return None
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"


if __name__ == "__main__":
    import_or_exit(logging.WARNING)
