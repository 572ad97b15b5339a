"""Garbage-collector settings for the long-running server process.

A request allocates thousands of short-lived objects (ORM state, pydantic models,
dicts); with CPython's default first-generation threshold of 700 the cyclic collector
ran several times per request batch and took about 5 % of the event loop's time under
``bench/send.py``. Objects that live for the whole process (modules, the app, the
routes) are moved out of the collector's way once, after start-up.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 20_000


def tune_for_server() -> None:
    """Collect rarely, and never re-scan what was built at start-up."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
