"""Who is calling: logins, access tokens, API keys and the panel's session tokens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from zapgate.domain.errors import NotFound, Unauthorized
from zapgate.domain.roles import Role
from zapgate.services.authcache import TTLCache
from zapgate.services.context import Principal
from zapgate.services.ratelimit import LoginThrottle
from zapgate.services.security import Passwords, TokenService, hash_api_key
from zapgate.store.db import Database
from zapgate.store.tables.accounts import ApiKeyRow, OrganizationRow, UserRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

# A key's last-used time is written at most this often, so a busy integration does
# not turn every read request into a write.
_LAST_USED_RESOLUTION = 60.0


@dataclass(slots=True)
class _KnownKey:
    principal: Principal
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    access_token: str
    expires_in: int
    user: UserRow


class Authenticator:
    """Checks credentials and remembers the ones it checked for a few seconds."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        tokens: TokenService,
        throttle: LoginThrottle,
        passwords: Passwords,
        *,
        principal_cache_seconds: float = 5.0,
    ) -> None:
        self._db = db
        # Credentials checked in the last few seconds; cleared by every change.
        self._keys: TTLCache[_KnownKey] = TTLCache(clock, ttl=principal_cache_seconds)
        self._users: TTLCache[Principal] = TTLCache(clock, ttl=principal_cache_seconds)
        self._changed: list[Callable[[], None]] = []
        self._announce: Callable[[], None] | None = None
        self._passwords = passwords
        self._clock = clock
        self.tokens = tokens
        self._throttle = throttle

    async def login(self, *, email: str, password: str, address: str) -> LoginResult:
        key = email.strip().lower()
        # Counted before the password is checked: concurrent guesses each need a slot.
        slot = await self._throttle.reserve(key, address)
        async with self._db.read() as s:
            user = await s.scalar(select(UserRow).where(UserRow.email == key))
        if (
            not await self._passwords.verify(user.password_hash if user else None, password)
            or user is None
        ):
            log.info("login failed", extra={"email": key, "address": address})
            raise Unauthorized("e-mail or password is wrong", code="invalid_credentials")
        await self._throttle.succeeded(slot)
        now = self._clock.now()
        async with self._db.write() as s:
            row = await s.get(UserRow, user.id)
            if row is not None:
                row.last_login_at = now
        return self._signed_in(user)

    def _signed_in(self, user: UserRow) -> LoginResult:
        token = self.tokens.issue(
            user_id=user.id,
            organization_id=user.organization_id,
            version=user.token_version,
            now=self._clock.now(),
        )
        return LoginResult(access_token=token, expires_in=self.tokens.ttl, user=user)

    async def principal_from_token(self, token: str) -> Principal:
        claims = self.tokens.verify(token, now=self._clock.now())
        cache_key = f"{claims.user_id}:{claims.version}"
        return await self._users.get_or_load(
            cache_key, lambda: self._load_user(claims.user_id, claims.version)
        )

    async def _load_user(self, user_id: str, version: int) -> Principal:
        async with self._db.read() as s:
            user = await s.get(UserRow, user_id)
        return _principal_of(user, version)

    async def session(self, token: str) -> tuple[Principal, UserRow, OrganizationRow]:
        """The member behind a panel session token, read afresh (never from the cache):
        a page reads the member anyway, so a password changed by another process ends
        the session at once instead of within the cache's few seconds."""
        claims = self.tokens.verify(token, now=self._clock.now())
        async with self._db.read() as s:
            user = await s.get(UserRow, claims.user_id)
            org = await s.get(OrganizationRow, user.organization_id) if user else None
        principal = _principal_of(user, claims.version)
        if user is None or org is None:
            raise Unauthorized("token is no longer valid", code="invalid_token")
        return principal, user, org

    async def principal_from_api_key(self, key: str) -> Principal:
        digest = hash_api_key(key)
        known = await self._keys.get_or_load(digest, lambda: self._load_key(digest))
        now = self._clock.now()
        if (
            known.last_used_at is None
            or (now - known.last_used_at).total_seconds() > _LAST_USED_RESOLUTION
        ):
            known.last_used_at = now
            async with self._db.write(in_loop=True) as s:
                fresh = await s.get(ApiKeyRow, known.principal.api_key_id)
                if fresh is not None:
                    fresh.last_used_at = now
        return known.principal

    async def _load_key(self, digest: str) -> _KnownKey:
        async with self._db.read() as s:
            row = await s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
        if row is None:
            raise Unauthorized("API key is not valid", code="invalid_api_key")
        if row.revoked_at is not None:
            raise Unauthorized("API key was revoked", code="api_key_revoked")
        # API keys act for their organization with the admin role: they can do
        # everything but manage owners.
        principal = Principal(
            organization_id=row.organization_id, role=Role.ADMIN, api_key_id=row.id
        )
        return _KnownKey(principal, row.last_used_at)

    def on_credentials_changed(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever :meth:`forget_credentials` runs (open live streams
        check their credentials again at once)."""
        self._changed.append(listener)

    def announce_changes(self, announce: Callable[[], None]) -> None:
        """Call ``announce`` after each change made through this process (in a cluster:
        tell the other nodes, whose caches then forget too)."""
        self._announce = announce

    def forget_credentials(self, *, announce: bool = True) -> None:
        """Drop every remembered credential (a user, role, password or key changed);
        ``announce=False`` when told of a change made elsewhere."""
        self._keys.clear()
        self._users.clear()
        for listener in self._changed:
            listener()
        if announce and self._announce is not None:
            self._announce()

    async def me(self, principal: Principal) -> tuple[UserRow | None, OrganizationRow]:
        async with self._db.read() as s:
            org = await s.get(OrganizationRow, principal.organization_id)
            user = await s.get(UserRow, principal.user_id) if principal.user_id else None
        if org is None:
            raise NotFound("organization not found")
        return user, org


def _principal_of(user: UserRow | None, version: int) -> Principal:
    """The member a token of ``version`` stands for, if that token is still theirs."""
    if user is None or user.token_version != version:
        raise Unauthorized("token is no longer valid", code="invalid_token")
    return Principal(
        organization_id=user.organization_id,
        role=Role(user.role),
        user_id=user.id,
        is_superadmin=user.is_superadmin,
        email=user.email,
    )
