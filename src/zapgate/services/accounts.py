"""Organizations, members and API keys (who is calling: ``authentication.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, Forbidden, Invalid, NotFound
from zapgate.domain.ids import new_id
from zapgate.domain.roles import Role
from zapgate.services.authentication import Authenticator, LoginResult
from zapgate.services.context import Principal
from zapgate.services.credentials import (
    PasswordChange,
    check_password,
    effective_role,
    may_change_credentials,
    normalize_email,
)
from zapgate.services.security import hash_api_key, new_api_key
from zapgate.store.pagination import Page, check_limit, decode_cursor, page_by_id
from zapgate.store.tables.accounts import ApiKeyRow, OrganizationRow, UserRow


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    row: ApiKeyRow
    key: str


class AccountService(Authenticator):
    """Organizations, members and API keys, each change clearing the credentials that
    :class:`Authenticator` remembers."""

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
        if await self.count_users():
            return None
        password_hash = await self._new_hash(email, password)
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
                password_hash=password_hash,
                role=Role.OWNER,
                name=None,
                superadmin=superadmin,
            )

    async def create_user_cli(
        self, *, email: str, password: str, org_name: str, role: Role, superadmin: bool
    ) -> UserRow:
        password_hash = await self._new_hash(email, password)
        async with self._db.write() as s:
            org = await s.scalar(select(OrganizationRow).where(OrganizationRow.name == org_name))
            if org is None:
                org = await self._create_org(s, org_name)
            return await self._add_user(
                s,
                org.id,
                email=email,
                password_hash=password_hash,
                role=role,
                name=None,
                superadmin=superadmin,
            )

    async def _new_hash(self, email: str, password: str) -> str:
        """The stored form of a new user's password, their address and the password
        checked first. Made before the
        transaction that adds the user: Argon2 (tens to hundreds of milliseconds, more
        as configured) must not hold SQLite's one writer, nor a cluster's PostgreSQL
        transaction past its idle limit."""
        normalize_email(email)
        check_password(password)
        return await self._passwords.hash(password)

    async def _add_user(
        self,
        s: AsyncSession,
        organization_id: str,
        *,
        email: str,
        password_hash: str,
        role: Role,
        name: str | None,
        superadmin: bool = False,
    ) -> UserRow:
        address = normalize_email(email)
        if await s.scalar(select(UserRow.id).where(UserRow.email == address)):
            raise Conflict("a user with this e-mail already exists", code="email_taken")
        user = UserRow(
            id=new_id(),
            organization_id=organization_id,
            email=address,
            name=(name or "").strip() or None,
            password_hash=password_hash,
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
        if role is Role.OWNER and effective_role(principal) is not Role.OWNER:
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
        password_hash = await self._new_hash(email, password)
        async with self._db.write() as s:
            org_id = organization_id or principal.organization_id
            await self._org_or_404(s, org_id)
            return await self._add_user(
                s, org_id, email=email, password_hash=password_hash, role=role, name=name
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

    async def _user_in_org(
        self, s: AsyncSession, principal: Principal, user_id: str, *, lock: bool = False
    ) -> UserRow:
        user = await s.get(UserRow, user_id, with_for_update=lock)
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
        password: PasswordChange | None = None,
        language: str | None = None,
    ) -> UserRow:
        """Change a member; a new password ends every session and token of theirs."""
        self_edit = principal.user_id == user_id
        verified: str | None = None
        new_hash: str | None = None
        if password is not None:
            check_password(password.new)
            verified = await self._authorize_password_change(principal, user_id, password)
            # Hashed before the transaction: Argon2 must not hold SQLite's one writer.
            new_hash = await self._passwords.hash(password.new)
        async with self._db.write() as s:
            user = await self._user_in_org(s, principal, user_id, lock=new_hash is not None)
            if not self_edit or role is not None:
                principal.require(Role.ADMIN)
            if new_hash is not None:
                # Again under the row lock: the member's role or password may have
                # changed while the passwords were hashed.
                may_change_credentials(principal, user_id=user.id, role=Role(user.role))
                if verified is not None and user.password_hash != verified:
                    raise Conflict(
                        "the password was changed meanwhile; try again", code="password_changed"
                    )
                user.password_hash = new_hash
                user.token_version += 1
            if role is not None and role.value != user.role:
                self._may_grant(principal, role)
                if Role(user.role) is Role.OWNER and effective_role(principal) is not Role.OWNER:
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
        self.forget_credentials()
        return user

    async def _authorize_password_change(
        self, principal: Principal, user_id: str, change: PasswordChange
    ) -> str | None:
        """Refuse a password change before any Argon2 work is spent on it; for one's own
        password, answer the stored hash that the current password matched."""
        async with self._db.read() as s:
            user = await self._user_in_org(s, principal, user_id)
        may_change_credentials(principal, user_id=user.id, role=Role(user.role))
        if principal.user_id != user.id:
            return None
        if not change.current:
            raise Invalid(
                "give your current password to set a new one", code="current_password_required"
            )
        # Guessing the current password through an open session is throttled as a login.
        slot = await self._throttle.reserve(user.email, change.address)
        if not await self._passwords.verify(user.password_hash, change.current):
            raise Forbidden("the current password is wrong", code="wrong_current_password")
        await self._throttle.succeeded(slot)
        return user.password_hash

    async def change_own_password(
        self, principal: Principal, change: PasswordChange
    ) -> LoginResult:
        """Set the caller's own password; every other session and token of theirs ends,
        and the caller gets a fresh token to go on with."""
        if principal.user_id is None:
            raise Forbidden("an API key has no password", code="api_key_cannot_change_credentials")
        user = await self.update_user(principal, principal.user_id, password=change)
        return self._signed_in(user)

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
                if effective_role(principal) is not Role.OWNER:
                    raise Forbidden("only an owner can remove an owner")
                await self._keep_one_owner(s, user)
            await s.delete(user)
        self.forget_credentials()

    # ------------------------------------------------------------ API keys

    async def create_api_key(self, principal: Principal, *, name: str) -> CreatedApiKey:
        """A key for the caller's own organization (admins and owners)."""
        principal.require(Role.ADMIN)
        return await self._add_api_key(
            principal.organization_id, name=name, created_by=principal.user_id
        )

    async def create_api_key_cli(self, *, org_name: str, name: str) -> CreatedApiKey:
        """A key for any organization, by name: the operator's command line only (whoever
        runs it holds the database already); no request can reach this."""
        org = await self.get_org_by_name(org_name)
        if org is None:
            raise NotFound(f"organization {org_name!r} not found")
        return await self._add_api_key(org.id, name=name, created_by=None)

    async def _add_api_key(
        self, organization_id: str, *, name: str, created_by: str | None
    ) -> CreatedApiKey:
        clean = name.strip()
        if not clean or len(clean) > 200:
            raise Invalid("name must have 1 to 200 characters", code="invalid_name")
        key = new_api_key()
        row = ApiKeyRow(
            id=new_id(),
            organization_id=organization_id,
            name=clean,
            prefix=key[:10],
            key_hash=hash_api_key(key),
            created_by=created_by,
            created_at=self._clock.now(),
        )
        async with self._db.write() as s:
            s.add(row)
        return CreatedApiKey(row=row, key=key)

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
