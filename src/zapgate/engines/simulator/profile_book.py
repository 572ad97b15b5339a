"""What the simulated network knows of profiles (``profiles.py`` acts on it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from zapgate.engines.profile_types import ProfilePicture


@dataclass(slots=True)
class OwnProfile:
    name: str | None = None
    status: str | None = None
    picture_sha256: str | None = None


@dataclass(slots=True)
class ProfileBook:
    """Who shows which picture, who is a business, who blocked whom."""

    pictures: dict[str, ProfilePicture] = field(default_factory=dict)
    business: set[str] = field(default_factory=set)
    blocklists: dict[str, set[str]] = field(default_factory=dict)
    """Account phone -> the phones it blocked."""
    own: dict[str, OwnProfile] = field(default_factory=dict)
    """Account phone -> its profile as set through the engine."""

    def blocks(self, account_phone: str, phone: str) -> bool:
        return phone in self.blocklists.get(account_phone, ())
