"""API schemas for accounts: separate from the tables, strict on input."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zapgate.api.characters import refuse_nul
from zapgate.api.formats import Email, NextCursor
from zapgate.domain.roles import Role

T = TypeVar("T")


class Input(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored.

    And the NUL character in any field (``api/characters.py``), unless ``keeps_nul``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    keeps_nul: ClassVar[bool] = False
    """True only for the simulator's phones and customers, which play WhatsApp."""

    @field_validator("*")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        return value if cls.keeps_nul else refuse_nul(value)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(Output, Generic[T]):
    items: list[T]
    next_cursor: NextCursor


Password = Annotated[str, Field(min_length=8, max_length=256)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class LoginIn(Input):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=256)]


class TokenOut(Output):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class OrganizationPublic(Output):
    id: str
    name: str
    created_at: datetime


class OrganizationCreate(Input):
    name: Name


class UserPublic(Output):
    id: str
    organization_id: str
    email: str
    name: str | None
    role: Role
    is_superadmin: bool
    language: str | None
    created_at: datetime
    last_login_at: datetime | None


class UserCreate(Input):
    email: Email
    password: Password
    role: Role
    name: Annotated[str, Field(max_length=200)] | None = None


class UserUpdate(Input):
    role: Role | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    password: Password | None = None
    # Required to change one's own password (see services/credentials.py).
    current_password: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    language: Literal["pt-BR", "en"] | None = None


class MeOut(Output):
    user: UserPublic | None
    organization: OrganizationPublic
    role: Role
    is_superadmin: bool
    auth: Literal["token", "api_key"]


class ApiKeyCreate(Input):
    name: Name


class ApiKeyPublic(Output):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(Output):
    id: str
    name: str
    key: str
    created_at: datetime
