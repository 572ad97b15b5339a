"""Who may change whose credentials, and what a new password or e-mail must look like.

A password is the account: whoever can set it can sign in as its member. So nobody sets
the password of a member who outranks them (an admin cannot become the owner), API keys
never set one (a key acts for the organization, not for a person who could be held to
account), and a member changing their own must know the current one (a session left
open on a shared computer must not become the account).
"""

from __future__ import annotations

from dataclasses import dataclass

from zapgate.domain.errors import Forbidden, Invalid
from zapgate.domain.roles import Role
from zapgate.services.context import Principal


@dataclass(frozen=True, slots=True)
class PasswordChange:
    new: str
    current: str | None
    """The caller's current password: required when the password is their own."""
    address: str
    """Where the request came from: wrong current passwords are throttled like logins."""


def check_password(password: str) -> None:
    if len(password) < 8:
        raise Invalid("password must have at least 8 characters", code="weak_password")
    if len(password) > 256:
        raise Invalid("password is too long", code="invalid_password")


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value or len(value) > 320:
        raise Invalid(f"{email!r} is not an e-mail address", code="invalid_email")
    return value


def effective_role(principal: Principal) -> Role:
    """Superadmins create and remove owners anywhere: they rank as owners."""
    return Role.OWNER if principal.is_superadmin else principal.role


def may_change_credentials(principal: Principal, *, user_id: str, role: Role) -> None:
    """Refuse unless ``principal`` may set the password of member ``user_id`` (``role``)."""
    if principal.api_key_id is not None:
        raise Forbidden(
            "API keys cannot change passwords; sign in as a member",
            code="api_key_cannot_change_credentials",
        )
    if principal.user_id == user_id:
        return
    principal.require(Role.ADMIN)
    if role.rank > effective_role(principal).rank:
        raise Forbidden(
            f"only an {role.value} can change an {role.value}'s password",
            code="outranked",
        )
