"""Deselect contract tests an implementation cannot run here (see ``needs_network``)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Deselected, not skipped: an offline run of the neonize engine simply does not
    # contain the tests that need WhatsApp's servers and a phone.
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        cls = getattr(item, "cls", None)
        function = getattr(item, "function", None)
        offline = cls is not None and getattr(cls, "network_available", True) is False
        if offline and getattr(function, "needs_network", False):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
