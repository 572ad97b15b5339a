"""Inbox reads at scale: 10,000 chats and 1,000,000 messages, bulk inserted; then the
p50/p99 of ``GET /chats`` (first pages, filters, deeper pages by cursor) and
``GET /chats/{id}/messages`` (newest page and paging back) through the service layer.

Prints one JSON object. Usage: python -m bench.inbox [--chats 10000]
[--messages 1000000] [--requests 500] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench._server import create_pg_database, drop_pg_database, percentile
from zapgate.config import Settings
from zapgate.domain.chats import ChatStatus
from zapgate.domain.ids import new_id
from zapgate.domain.messages import Direction
from zapgate.domain.roles import Role
from zapgate.runtime import Runtime
from zapgate.services.context import Principal
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.messages import MessageRow

BATCH = 5000


async def seed(runtime: Runtime, principal: Principal, chats: int, messages: int) -> list[str]:
    org = principal.organization_id
    cid = (await runtime.connections.create(principal, name="Inbox")).id
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(1)
    contact_rows, chat_rows = [], []
    for n in range(chats):
        contact_id, chat_id = new_id(), new_id()
        jid = f"55119{n:07d}1@s.whatsapp.net"
        contact_rows.append(
            {
                "id": contact_id,
                "organization_id": org,
                "jid": jid,
                "phone": jid[:13],
                "name": f"Customer {n}",
                "tags": [],
                "custom_fields": {},
                "created_at": now,
                "updated_at": now,
            }
        )
        at = now + timedelta(seconds=rng.randrange(30 * 86400))
        chat_rows.append(
            {
                "id": chat_id,
                "organization_id": org,
                "connection_id": cid,
                "contact_id": contact_id,
                "jid": jid,
                "name": f"Customer {n}",
                "is_group": False,
                "status": rng.choice([s.value for s in ChatStatus]),
                "unread_count": rng.choice([0, 0, 1, 3]),
                "last_message": {"text": "hello", "direction": Direction.IN.value},
                "last_message_at": at,
                "created_at": now,
                "updated_at": at,
            }
        )
    async with runtime.db.write() as s:
        for i in range(0, chats, BATCH):
            await s.execute(insert(ContactRow), contact_rows[i : i + BATCH])
            await s.execute(insert(ChatRow), chat_rows[i : i + BATCH])
    chat_ids = [c["id"] for c in chat_rows]
    for start in range(0, messages, 50_000):
        rows = []
        for n in range(start, min(messages, start + 50_000)):
            chat = chat_rows[n % chats]
            rows.append(
                {
                    "id": new_id(),
                    "organization_id": org,
                    "connection_id": cid,
                    "chat_id": chat["id"],
                    "contact_id": chat["contact_id"],
                    "wa_message_id": f"3A{n:018X}",
                    "direction": Direction.IN.value if n % 3 else Direction.OUT.value,
                    "chat_jid": chat["jid"],
                    "sender_jid": chat["jid"],
                    "type": "text",
                    "status": "received" if n % 3 else "read",
                    "text": f"message number {n}",
                    "payload": {},
                    "attempts": 0,
                    "created_at": now + timedelta(seconds=n),
                }
            )
        async with runtime.db.write() as s:
            for i in range(0, len(rows), BATCH):
                await s.execute(insert(MessageRow), rows[i : i + BATCH])
    return chat_ids


async def timed(fn: Any, count: int) -> dict[str, float]:
    samples = []
    for i in range(count):
        started = time.perf_counter()
        await fn(i)
        samples.append(time.perf_counter() - started)
    return {
        "p50_ms": round(percentile(samples, 0.5) * 1000, 2),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 2),
    }


async def bench(database: str, chats: int, messages: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        pg_name = None
        url = f"sqlite+aiosqlite:///{data / 'zapgate.db'}"
        if database != "sqlite":
            url, pg_name = await create_pg_database()
        settings = Settings(
            _env_file=None,
            data_dir=data,
            database_url=url,
            engine="simulator",
            secret_key="b" * 40,
            log_level="WARNING",
            argon2_time_cost=1,
            argon2_memory_kib=1024,
        )
        runtime = Runtime.build(settings)
        await runtime.start()
        try:
            user = await runtime.accounts.bootstrap(
                email="bench@example.com", password="bench-pass-1", org_name="Bench"
            )
            assert user is not None
            principal = Principal(organization_id=user.organization_id, role=Role.OWNER)
            started = time.perf_counter()
            chat_ids = await seed(runtime, principal, chats, messages)
            seeded = time.perf_counter() - started
            if not runtime.db.is_sqlite:
                async with runtime.db.write() as s:
                    await s.execute(text("ANALYZE"))
            inbox = runtime.messaging.inbox
            rng = random.Random(2)
            cursors: list[str] = []
            first = await inbox.chats(principal, limit=50)
            cursor = first.next_cursor
            for _ in range(20):
                assert cursor is not None
                cursors.append(cursor)
                cursor = (await inbox.chats(principal, limit=50, cursor=cursor)).next_cursor

            async def list_chats(i: int) -> None:
                await inbox.chats(principal, limit=50)

            async def list_filtered(i: int) -> None:
                await inbox.chats(principal, limit=50, status=ChatStatus.PENDING, unread=True)

            async def list_deep(i: int) -> None:
                await inbox.chats(principal, limit=50, cursor=cursors[i % len(cursors)])

            async def chat_messages(i: int) -> None:
                await inbox.messages(principal, rng.choice(chat_ids), limit=50)

            async def chat_history(i: int) -> None:
                chat_id = rng.choice(chat_ids)
                page = await inbox.messages(principal, chat_id, limit=50)
                await inbox.messages(principal, chat_id, before=page.next_cursor, limit=50)

            return {
                "seed_seconds": round(seeded, 1),
                "get_chats": await timed(list_chats, requests),
                "get_chats_filtered": await timed(list_filtered, requests),
                "get_chats_cursor_pages": await timed(list_deep, requests),
                "get_chat_messages": await timed(chat_messages, requests),
                "get_chat_messages_two_pages": await timed(chat_history, requests),
            }
        finally:
            await runtime.stop()
            if pg_name:
                await drop_pg_database(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    results = {
        db: asyncio.run(bench(db, args.chats, args.messages, args.requests))
        for db in args.databases.split(",")
        if db
    }
    print(
        json.dumps(
            {
                "benchmark": "inbox",
                "chats": args.chats,
                "messages": args.messages,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
