"""Panel sessions and CSRF tokens.

The session cookie carries an access token issued by ``runtime.accounts`` (an HS256 JWT
signed with the server secret), so a panel session expires and is revoked exactly like an
API token (a password change bumps the user's token version). It is HttpOnly and
SameSite=Lax: scripts cannot read it and other sites cannot send it with a form post.

CSRF tokens are an HMAC of the session cookie under a key derived from the same secret:
nothing to store, different for every session, and impossible to compute for a page on
another site, which can neither read our cookie nor our secret. Anonymous visitors (login
and setup forms) get a random ``zg_pre`` cookie that anchors their token the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

SESSION_COOKIE = "zg_session"
PRE_COOKIE = "zg_pre"
LANG_COOKIE = "zg_lang"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class WebKeys:
    """The CSRF key, derived once from the server secret (never the secret itself)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"zapgate/panel/csrf\0" + secret.encode()).digest()

    def csrf_for(self, anchor: str) -> str:
        return hmac.new(self._key, anchor.encode(), hashlib.sha256).hexdigest()

    def valid(self, anchor: str | None, token: str | None) -> bool:
        if not anchor or not token:
            return False
        return hmac.compare_digest(self.csrf_for(anchor), token)


def csrf_anchor(request: Request) -> str | None:
    """What this visitor's CSRF token is bound to: the session, else the pre-session."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return "s:" + session
    pre = request.cookies.get(PRE_COOKIE)
    return "p:" + pre if pre else None


def new_pre_session() -> str:
    return secrets.token_urlsafe(24)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=_secure(request))
