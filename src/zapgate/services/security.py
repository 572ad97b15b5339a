"""Passwords, access tokens and API keys."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from zapgate.domain.errors import Unauthorized

API_KEY_PREFIX = "zg_"


class Passwords:
    """Argon2id hashing, run in a thread: a hash takes ~100 ms of CPU that must not
    stall the event loop (health checks, live streams) while someone logs in."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        # Verified when the e-mail is unknown, so a login takes as long either way.
        self._dummy = self._hasher.hash("zapgate-timing-equalizer")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            ok = self._hasher.verify(password_hash or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and password_hash is not None


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # API keys carry 256 random bits: a fast hash is safe and lets us look them up.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    organization_id: str
    version: int
    kind: str
    expires_at: datetime


class TokenService:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl = ttl_seconds

    def issue(
        self,
        *,
        user_id: str,
        organization_id: str,
        version: int,
        now: datetime,
        kind: str = "access",
    ) -> str:
        payload = {
            "sub": user_id,
            "org": organization_id,
            "ver": version,
            "typ": kind,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl)).timestamp()),
        }
        return jwt.encode(payload, self._secret, algorithm="HS256")

    def verify(self, token: str, *, now: datetime, kind: str = "access") -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "require": ["sub", "org", "exp", "typ"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token", code="invalid_token") from exc
        if payload.get("typ") != kind:
            raise Unauthorized("invalid token", code="invalid_token")
        # Expiry is checked against the injected clock, not the wall clock.
        if int(payload["exp"]) <= int(now.timestamp()):
            raise Unauthorized("token expired", code="token_expired")
        return TokenClaims(
            user_id=str(payload["sub"]),
            organization_id=str(payload["org"]),
            version=int(payload.get("ver", 0)),
            kind=kind,
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
