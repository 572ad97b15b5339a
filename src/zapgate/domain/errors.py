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


# Engine failures: raised by engines, mapped by the API like domain errors.


class EngineError(Exception):
    """A failed engine call. ``permanent`` False means retrying later may succeed."""

    def __init__(self, code: str, message: str, *, permanent: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.permanent = permanent


class SessionNotRunning(EngineError):
    def __init__(self, session_id: str) -> None:
        super().__init__("not_connected", f"session {session_id} is not running")
