"""``insert_new``: rows written by one Core INSERT stay tracked for the transaction."""

from __future__ import annotations

from sqlalchemy import inspect, select

from tests.conftest import Server
from zapgate.domain.ids import new_id
from zapgate.store.rows import insert_new
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.conversations import ContactRow
from zapgate.util.clock import ManualClock


def _contact(org: str, n: int, clock: ManualClock) -> ContactRow:
    return ContactRow(
        id=new_id(),
        organization_id=org,
        jid=f"55119000000{n:02d}@s.whatsapp.net",
        phone=f"55119000000{n:02d}",
        tags=[],
        custom_fields={},
        created_at=clock.now(),
        updated_at=clock.now(),
    )


async def test_inserted_rows_take_later_changes_and_unset_columns_are_null(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    db = server.runtime.db
    async with db.read() as s:
        org = await s.scalar(select(OrganizationRow.id))
    assert org is not None
    rows = [_contact(org, n, clock) for n in range(3)]
    async with db.write() as s:
        await insert_new(s, ContactRow, rows)
        # Changed after the INSERT, in the same transaction: must become an UPDATE.
        rows[1].name = "Renamed"
        # Read without a lazy load (columns left unset were attached as NULL).
        assert rows[2].email is None
    async with db.read() as s:
        stored = {r.id: r for r in (await s.scalars(select(ContactRow))).all()}
    assert stored[rows[1].id].name == "Renamed"
    assert stored[rows[0].id].name is None
    assert stored[rows[2].id].email is None
    assert stored[rows[0].id].tags == []


async def test_unattached_rows_stay_unsaved_objects(server: Server, clock: ManualClock) -> None:
    db = server.runtime.db
    async with db.read() as s:
        org = await s.scalar(select(OrganizationRow.id))
    assert org is not None
    row = _contact(org, 7, clock)
    async with db.write() as s:
        await insert_new(s, ContactRow, [row], attach=False)
    # Still a plain object with its values: a failed transaction could replay it.
    assert inspect(row).transient
    assert row.phone == "5511900000007"
