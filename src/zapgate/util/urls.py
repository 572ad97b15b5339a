"""URLs shown back to people: a stored URL's password never is."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def masked(url: str) -> str:
    """The URL with its password replaced by ``***`` (nothing else changes); a user
    with no password is masked whole, since for some schemes it is the credential
    itself (``nats://<token>@host``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    user, at, host = parts.netloc.rpartition("@")
    if not at or not user:
        return url
    name, colon, _ = user.partition(":")
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}" if colon else f"***@{host}"))


def userinfo(url: str) -> str | None:
    """The user part of a URL (``user:password``, a token), or None when it has none."""
    user, at, _ = urlsplit(url).netloc.rpartition("@")
    return user if at and user else None
