"""Load neonize once, without letting its import reconfigure logging or warn."""

from __future__ import annotations

import gc
import logging
import subprocess
import warnings


def _load_neonize() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        import neonize.client  # noqa: F401

        # neonize runs os.popen("uname -a") at import and drops the pipe unclosed; the
        # child lingers in subprocess's reaper list and its pipe would be finalized (with
        # a ResourceWarning) inside whichever later test first starts a subprocess.
        for child in list(getattr(subprocess, "_active", [])):
            child.wait()
        subprocess._cleanup()  # type: ignore[attr-defined]
        gc.collect()
    root.handlers[:] = handlers
    root.setLevel(level)


_load_neonize()
