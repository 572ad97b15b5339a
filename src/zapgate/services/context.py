"""Who is calling: every service call carries a Principal and checks it here."""

from __future__ import annotations

from dataclasses import dataclass

from zapgate.domain.errors import Forbidden
from zapgate.domain.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    organization_id: str
    role: Role
    user_id: str | None = None
    api_key_id: str | None = None
    is_superadmin: bool = False
    email: str | None = None

    @property
    def actor_id(self) -> str | None:
        return self.user_id or self.api_key_id

    def require(self, role: Role) -> None:
        if not self.role.at_least(role):
            raise Forbidden(f"this action needs the {role.value} role or higher")

    def require_superadmin(self) -> None:
        if not self.is_superadmin:
            raise Forbidden("this action is for superadmins only")

    @property
    def sees_all_chats(self) -> bool:
        return self.role.at_least(Role.MANAGER)
