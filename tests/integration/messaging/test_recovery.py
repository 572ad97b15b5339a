"""Recovery of messages left ``sending`` by a crash, for both kinds of engine."""

from __future__ import annotations

from sqlalchemy import update

from tests.conftest import Server
from tests.integration.api.helpers import create_connection
from tests.integration.messaging.kit import CUSTOMER, message, send
from zapgate.outbox.outcomes import Outcomes
from zapgate.store.tables import MessageRow
from zapgate.util.clock import ManualClock


async def test_interrupted_sends_are_requeued_or_failed(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    await create_connection(server.http, admin)  # idle: nothing is sent meanwhile
    first = await send(server.http, admin, {"to": CUSTOMER, "text": "a"})
    second = await send(server.http, admin, {"to": CUSTOMER, "text": "b"})
    db = server.runtime.db
    outcomes = Outcomes(db)

    async def mark_sending(mid: str) -> None:
        async with db.write() as s:
            await s.execute(update(MessageRow).where(MessageRow.id == mid).values(status="sending"))

    await mark_sending(first["id"])
    assert await outcomes.recover(clock.now(), resend=True) == 1
    again = await message(server.http, admin, first["id"])
    assert again["status"] == "queued"
    assert again["wa_message_id"] == first["wa_message_id"]  # the same id on the retry

    await mark_sending(second["id"])
    assert await outcomes.recover(clock.now(), resend=False) == 1
    failed = await message(server.http, admin, second["id"])
    assert failed["status"] == "failed"
    assert failed["error_code"] == "send_interrupted"
