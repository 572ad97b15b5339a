"""Limits of the API's lists, the same for every resource."""

from __future__ import annotations

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_INT64 = 2**63 - 1
"""The largest id or cursor position either database stores (a signed 64-bit integer)."""
