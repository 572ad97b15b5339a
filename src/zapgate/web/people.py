"""How the panel names people and numbers: phones grouped for humans and each
connection's tag (its name and a stable colour), so chats of several numbers tell apart."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zapgate.web.context import Visitor

PALETTE = 8
"""Colour slots ``conn-c0`` … ``conn-c7`` in app.css (light and dark)."""
_CONNECTIONS = 200


def human_phone(value: object) -> str:
    """``5511999990001`` → ``+55 11 99999-0001``: Brazil and the NANP grouped as people
    write them, any other number as ``+`` and its digits (never a guessed grouping)."""
    if not isinstance(value, str):
        return ""
    digits = "".join(ch for ch in value.split("@", 1)[0] if ch in string.digits)
    if not digits:
        return ""
    if digits.startswith("55") and len(digits) in (12, 13):
        area, local = digits[2:4], digits[4:]
        return f"+55 {area} {local[:-4]}-{local[-4:]}"
    if digits.startswith("1") and len(digits) == 11:
        return f"+1 {digits[1:4]} {digits[4:7]} {digits[7:]}"
    return "+" + digits


def colour_slot(connection_id: str) -> int:
    """A connection's preferred colour: the same on every page and every server."""
    return hashlib.sha256(connection_id.encode()).digest()[0] % PALETTE


def colour_slots(connection_ids: list[str]) -> dict[str, int]:
    """Each connection its preferred colour unless an older one (ids sort by creation)
    holds it; then the next free one, so up to PALETTE numbers never share a colour and
    a connection keeps its colour while older ones stay."""
    slots: dict[str, int] = {}
    taken: set[int] = set()
    for cid in sorted(connection_ids):
        slot = colour_slot(cid)
        if len(taken) < PALETTE:
            while slot in taken:
                slot = (slot + 1) % PALETTE
        slots[cid] = slot
        taken.add(slot)
    return slots


@dataclass(frozen=True, slots=True)
class ConnectionTag:
    id: str
    name: str
    slot: int

    @property
    def css(self) -> str:
        return f"conn-tag conn-c{self.slot}"


async def connection_tags(v: Visitor) -> dict[str, ConnectionTag]:
    """Every connection of the organization, by id, oldest first."""
    page = await v.runtime.connections.find(v.principal, limit=_CONNECTIONS)
    slots = colour_slots([row.id for row in page.items])
    return {row.id: ConnectionTag(row.id, row.name, slots[row.id]) for row in page.items}
