"""Load neonize once, without letting its import reconfigure logging or warn."""

from __future__ import annotations

import gc
import logging
import warnings


def _load_neonize() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        import neonize.client  # noqa: F401

        gc.collect()
    root.handlers[:] = handlers
    root.setLevel(level)


_load_neonize()
