"""The own-profile form of the connection detail page (name, "about" text, picture):
what it shows, what it was sent, and a refusal beside its field (the form kept)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow

FIELD_OF = {
    "invalid_name": "name",
    "invalid_status": "status",
    "invalid_picture": "picture",
    "media_too_large": "picture",
    "invalid_media": "picture",
}


@dataclass
class ProfileForm:
    name: str = ""
    status: str = ""
    has_picture: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    code: str = ""

    @classmethod
    def of(cls, row: ConnectionRow) -> ProfileForm:
        return cls(
            name=row.push_name or "",
            status=row.profile_status or "",
            has_picture=row.profile_picture_media_id is not None,
        )

    def refused(self, code: str, text: str) -> ProfileForm:
        self.code = code
        self.errors[FIELD_OF.get(code, "form")] = text
        return self
