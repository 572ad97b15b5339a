"""A reported participants delta applied to a stored group."""

from __future__ import annotations

from datetime import UTC, datetime

from zapgate.domain.groups import ParticipantAction
from zapgate.engines.events import GroupMember
from zapgate.services.group_records import apply_participants
from zapgate.store.tables.conversations import GroupRow

ME = GroupMember("5511999990001@s.whatsapp.net", phone="5511999990001", lid="98765@lid")


def _group(*participants: dict[str, object]) -> GroupRow:
    return GroupRow(
        id="g",
        organization_id="o",
        connection_id="c",
        jid="1203@g.us",
        name="Clientes",
        topic=None,
        participants=list(participants),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_an_add_of_someone_listed_keeps_their_roles_and_fills_their_address() -> None:
    """A newer full description (already an admin) stored before the older join."""
    row = _group({"jid": ME.jid, "phone": ME.phone, "lid": None, "is_admin": True})
    apply_participants(row, ParticipantAction.ADD, (ME,))
    assert row.participants == [
        {"jid": ME.jid, "phone": ME.phone, "lid": "98765@lid", "is_admin": True}
    ]


def test_an_add_of_someone_new_lists_them_without_roles() -> None:
    row = _group()
    apply_participants(row, ParticipantAction.ADD, (ME,))
    assert row.participants == [
        {
            "jid": ME.jid,
            "phone": ME.phone,
            "lid": ME.lid,
            "is_admin": False,
            "is_super_admin": False,
        }
    ]
