"""Organizations, users, logins and API keys."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from zapgate.domain.ids import new_id
from zapgate.domain.roles import Role
from zapgate.services.authcache import TTLCache
from zapgate.services.context import Principal
from zapgate.services.ratelimit import LoginThrottle
from zapgate.services.security import (
    Passwords,
    TokenService,
    hash_api_key,
    new_api_key,
)
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, page_by_id
from zapgate.store.tables import ApiKeyRow, OrganizationRow, UserRow
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


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    row: ApiKeyRow
    key: str


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise Invalid("password must have at least 8 characters", code="weak_password")
    if len(password) > 256:
        raise Invalid("password is too long", code="invalid_password")


def _normalize_email(email: str) -> str:
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value or len(value) > 320:
        raise Invalid(f"{email!r} is not an e-mail address", code="invalid_email")
    return value


class AccountService:
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
        # Credentials checked in the last few seconds; cleared by every change below.
        self._keys: TTLCache[_KnownKey] = TTLCache(clock, ttl=principal_cache_seconds)
        self._users: TTLCache[Principal] = TTLCache(clock, ttl=principal_cache_seconds)
        self._changed: list[Callable[[], None]] = []
        self._passwords = passwords
        self._clock = clock
        self.tokens = tokens
        self._throttle = throttle

    # ------------------------------------------------------------ authentication

    async def login(self, *, email: str, password: str, address: str) -> LoginResult:
        key = email.strip().lower()
        self._throttle.check(key, address)
        async with self._db.read() as s:
            user = await s.scalar(select(UserRow).where(UserRow.email == key))
        if (
            not await self._passwords.verify(user.password_hash if user else None, password)
            or user is None
        ):
            self._throttle.failed(key, address)
            log.info("login failed", extra={"email": key, "address": address})
            raise Unauthorized("e-mail or password is wrong", code="invalid_credentials")
        self._throttle.succeeded(key)
        now = self._clock.now()
        async with self._db.write() as s:
            row = await s.get(UserRow, user.id)
            if row is not None:
                row.last_login_at = now
        token = self.tokens.issue(
            user_id=user.id,
            organization_id=user.organization_id,
            version=user.token_version,
            now=now,
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
        if user is None or user.token_version != version:
            raise Unauthorized("token is no longer valid", code="invalid_token")
        return Principal(
            organization_id=user.organization_id,
            role=Role(user.role),
            user_id=user.id,
            is_superadmin=user.is_superadmin,
            email=user.email,
        )

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

    def forget_credentials(self) -> None:
        """Drop every remembered credential (a user, role, password or key changed)."""
        self._keys.clear()
        self._users.clear()
        for listener in self._changed:
            listener()

    async def me(self, principal: Principal) -> tuple[UserRow | None, OrganizationRow]:
        async with self._db.read() as s:
            org = await s.get(OrganizationRow, principal.organization_id)
            user = await s.get(UserRow, principal.user_id) if principal.user_id else None
        if org is None:
            raise NotFound("organization not found")
        return user, org

    # ------------------------------------------------------------ organizations

    async def _create_org(self, s: AsyncSession, name: str) -> OrganizationRow:
        clean = name.strip()
        if not clean or len(clean) > 200:
            raise Invalid("organization name must have 1 to 200 characters", code="invalid_name")
        exists = await s.scalar(select(OrganizationRow).where(OrganizationRow.name == clean))
        if exists is not None:
            raise Conflict(f"organization {clean!r} already exists", code="organization_exists")
        org = OrganizationRow(id=new_id(), name=clean, created_at=self._clock.now())
        s.add(org)
        await s.flush()
        return org

    async def create_organization(self, principal: Principal, *, name: str) -> OrganizationRow:
        principal.require_superadmin()
        async with self._db.write() as s:
            return await self._create_org(s, name)

    async def list_organizations(
        self, principal: Principal, *, limit: int, cursor: str | None
    ) -> Page[OrganizationRow]:
        principal.require_superadmin()
        check_limit(limit)
        query = select(OrganizationRow).order_by(OrganizationRow.id).limit(limit + 1)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(OrganizationRow.id > str(after))
        async with self._db.read() as s:
            rows = list((await s.scalars(query)).all())
        return page_by_id(rows, limit)

    async def all_organizations(self) -> list[OrganizationRow]:
        """Every organization (operator tools; no principal)."""
        async with self._db.read() as s:
            return list(
                (await s.scalars(select(OrganizationRow).order_by(OrganizationRow.name))).all()
            )

    async def get_org_by_name(self, name: str) -> OrganizationRow | None:
        async with self._db.read() as s:
            return await s.scalar(select(OrganizationRow).where(OrganizationRow.name == name))

    async def _org_or_404(self, s: AsyncSession, organization_id: str) -> OrganizationRow:
        org = await s.get(OrganizationRow, organization_id)
        if org is None:
            raise NotFound("organization not found")
        return org

    # ------------------------------------------------------------ users

    async def count_users(self) -> int:
        async with self._db.read() as s:
            return int(await s.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def bootstrap(
        self, *, email: str, password: str, org_name: str, superadmin: bool = True
    ) -> UserRow | None:
        """Create the first user (superadmin owner) when nobody exists yet."""
        async with self._db.write() as s:
            if await s.scalar(select(func.count()).select_from(UserRow)):
                return None
            org = await s.scalar(select(OrganizationRow).where(OrganizationRow.name == org_name))
            if org is None:
                org = await self._create_org(s, org_name)
            return await self._add_user(
                s,
                org.id,
                email=email,
                password=password,
                role=Role.OWNER,
                name=None,
                superadmin=superadmin,
            )

    async def create_user_cli(
        self, *, email: str, password: str, org_name: str, role: Role, superadmin: bool
    ) -> UserRow:
        async with self._db.write() as s:
            org = await s.scalar(select(OrganizationRow).where(OrganizationRow.name == org_name))
            if org is None:
                org = await self._create_org(s, org_name)
            return await self._add_user(
                s,
                org.id,
                email=email,
                password=password,
                role=role,
                name=None,
                superadmin=superadmin,
            )

    async def _add_user(
        self,
        s: AsyncSession,
        organization_id: str,
        *,
        email: str,
        password: str,
        role: Role,
        name: str | None,
        superadmin: bool = False,
    ) -> UserRow:
        address = _normalize_email(email)
        _check_password(password)
        if await s.scalar(select(UserRow.id).where(UserRow.email == address)):
            raise Conflict("a user with this e-mail already exists", code="email_taken")
        user = UserRow(
            id=new_id(),
            organization_id=organization_id,
            email=address,
            name=(name or "").strip() or None,
            password_hash=await self._passwords.hash(password),
            role=role.value,
            is_superadmin=superadmin,
            created_at=self._clock.now(),
            token_version=0,
        )
        s.add(user)
        try:
            await s.flush()
        except IntegrityError as exc:
            raise Conflict("a user with this e-mail already exists", code="email_taken") from exc
        return user

    def _may_grant(self, principal: Principal, role: Role) -> None:
        principal.require(Role.ADMIN)
        if role is Role.OWNER and not (principal.role is Role.OWNER or principal.is_superadmin):
            raise Forbidden("only an owner can make another owner")

    async def create_user(
        self,
        principal: Principal,
        *,
        email: str,
        password: str,
        role: Role,
        name: str | None = None,
        organization_id: str | None = None,
    ) -> UserRow:
        if organization_id is not None:
            principal.require_superadmin()
        else:
            self._may_grant(principal, role)
        async with self._db.write() as s:
            org_id = organization_id or principal.organization_id
            await self._org_or_404(s, org_id)
            return await self._add_user(
                s, org_id, email=email, password=password, role=role, name=name
            )

    async def list_users(
        self,
        principal: Principal,
        *,
        limit: int,
        cursor: str | None,
        organization_id: str | None = None,
    ) -> Page[UserRow]:
        if organization_id is not None:
            principal.require_superadmin()
        else:
            principal.require(Role.MANAGER)
        check_limit(limit)
        org_id = organization_id or principal.organization_id
        query = (
            select(UserRow)
            .where(UserRow.organization_id == org_id)
            .order_by(UserRow.id)
            .limit(limit + 1)
        )
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(UserRow.id > str(after))
        async with self._db.read() as s:
            if organization_id is not None:
                await self._org_or_404(s, org_id)
            rows = list((await s.scalars(query)).all())
        return page_by_id(rows, limit)

    async def _user_in_org(self, s: AsyncSession, principal: Principal, user_id: str) -> UserRow:
        user = await s.get(UserRow, user_id)
        if user is None or user.organization_id != principal.organization_id:
            raise NotFound("user not found")
        return user

    async def get_user(self, principal: Principal, user_id: str) -> UserRow:
        principal.require(Role.MANAGER)
        async with self._db.read() as s:
            return await self._user_in_org(s, principal, user_id)

    async def update_user(
        self,
        principal: Principal,
        user_id: str,
        *,
        role: Role | None = None,
        name: str | None = None,
        password: str | None = None,
        language: str | None = None,
    ) -> UserRow:
        self_edit = principal.user_id == user_id
        async with self._db.write() as s:
            user = await self._user_in_org(s, principal, user_id)
            if not self_edit or role is not None:
                principal.require(Role.ADMIN)
            if role is not None and role.value != user.role:
                self._may_grant(principal, role)
                if Role(user.role) is Role.OWNER and not (
                    principal.role is Role.OWNER or principal.is_superadmin
                ):
                    raise Forbidden("only an owner can change another owner's role")
                if Role(user.role) is Role.OWNER:
                    await self._keep_one_owner(s, user)
                user.role = role.value
            if name is not None:
                user.name = name.strip() or None
            if language is not None:
                if language not in ("pt-BR", "en"):
                    raise Invalid("language must be pt-BR or en", code="invalid_language")
                user.language = language
            if password is not None:
                _check_password(password)
                user.password_hash = await self._passwords.hash(password)
                user.token_version += 1
        self.forget_credentials()
        return user

    async def _keep_one_owner(self, s: AsyncSession, user: UserRow) -> None:
        owners = await s.scalar(
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.organization_id == user.organization_id, UserRow.role == Role.OWNER)
        )
        if int(owners or 0) <= 1:
            raise Conflict("an organization keeps at least one owner", code="last_owner")

    async def delete_user(self, principal: Principal, user_id: str) -> None:
        principal.require(Role.ADMIN)
        async with self._db.write() as s:
            user = await self._user_in_org(s, principal, user_id)
            if user.id == principal.user_id:
                raise Conflict("you cannot remove yourself", code="cannot_remove_self")
            if Role(user.role) is Role.OWNER:
                if not (principal.role is Role.OWNER or principal.is_superadmin):
                    raise Forbidden("only an owner can remove an owner")
                await self._keep_one_owner(s, user)
            await s.delete(user)
        self.forget_credentials()

    # ------------------------------------------------------------ API keys

    async def create_api_key(
        self, principal: Principal, *, name: str, organization_id: str | None = None
    ) -> CreatedApiKey:
        if organization_id is None:
            principal.require(Role.ADMIN)
        clean = name.strip()
        if not clean or len(clean) > 200:
            raise Invalid("name must have 1 to 200 characters", code="invalid_name")
        key = new_api_key()
        row = ApiKeyRow(
            id=new_id(),
            organization_id=organization_id or principal.organization_id,
            name=clean,
            prefix=key[:10],
            key_hash=hash_api_key(key),
            created_by=principal.user_id,
            created_at=self._clock.now(),
        )
        async with self._db.write() as s:
            s.add(row)
        return CreatedApiKey(row=row, key=key)

    async def create_api_key_cli(self, *, org_name: str, name: str) -> CreatedApiKey:
        org = await self.get_org_by_name(org_name)
        if org is None:
            raise NotFound(f"organization {org_name!r} not found")
        system = Principal(organization_id=org.id, role=Role.OWNER, is_superadmin=True)
        return await self.create_api_key(system, name=name, organization_id=org.id)

    async def list_api_keys(
        self, principal: Principal, *, limit: int, cursor: str | None
    ) -> Page[ApiKeyRow]:
        principal.require(Role.ADMIN)
        check_limit(limit)
        query = (
            select(ApiKeyRow)
            .where(ApiKeyRow.organization_id == principal.organization_id)
            .order_by(ApiKeyRow.id)
            .limit(limit + 1)
        )
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(ApiKeyRow.id > str(after))
        async with self._db.read() as s:
            rows = list((await s.scalars(query)).all())
        return page_by_id(rows, limit)

    async def revoke_api_key(self, principal: Principal, key_id: str) -> None:
        principal.require(Role.ADMIN)
        async with self._db.write() as s:
            row = await s.get(ApiKeyRow, key_id)
            if row is None or row.organization_id != principal.organization_id:
                raise NotFound("API key not found")
            if row.revoked_at is None:
                row.revoked_at = self._clock.now()
        self.forget_credentials()
