"""Facts about an HTTP request that the API and the panel both need."""

from __future__ import annotations

from starlette.requests import Request


def client_address(request: Request) -> str:
    """The peer's address (login throttling counts by it); ``unknown`` without one."""
    return request.client.host if request.client else "unknown"
