"""Domain errors with stable codes; the API maps them to HTTP answers."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base error. ``code`` is stable and documented; ``status`` is the HTTP answer."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Gone(DomainError):
    code = "gone"
    status = 410


class Invalid(DomainError):
    """Input that parses but makes no sense (a malformed phone number, a past date)."""

    code = "validation_error"
    status = 422


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class TooManyRequests(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"retry_after": round(retry_after, 1)})
        self.retry_after = retry_after


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413


class Unavailable(DomainError):
    code = "unavailable"
    status = 503
