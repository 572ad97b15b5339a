"""Everything messaging needs, built and started together (one field of the Runtime).

Start order: the inbound recorder is registered as a supervisor listener *before* the
supervisor starts (so no message reported during restore is missed), and the outbox
worker starts after the supervisor (it needs runner states). ``stop`` is the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

from zapgate.config import Settings
from zapgate.outbox.sender import OutboxSender
from zapgate.services.contacts import ContactService
from zapgate.services.fetch import MediaFetcher
from zapgate.services.inbox import InboxService
from zapgate.services.ingest import InboundRecorder
from zapgate.services.lookups import LookupService
from zapgate.services.media import MediaService, MediaStore
from zapgate.services.message_stats import MessageStats
from zapgate.services.messages import MessageService
from zapgate.services.routing import Router
from zapgate.services.templates import TemplateService
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.util.clock import Clock


@dataclass
class Messaging:
    messages: MessageService
    media: MediaService
    templates: TemplateService
    inbox: InboxService
    contacts: ContactService
    lookups: LookupService
    stats: MessageStats
    sender: OutboxSender
    recorder: InboundRecorder

    @classmethod
    def build(
        cls, settings: Settings, db: Database, clock: Clock, supervisor: Supervisor
    ) -> Messaging:
        store = MediaStore(settings.data_dir / "media")
        fetcher = MediaFetcher(
            timeout=settings.media_fetch_timeout,
            allow_private=settings.media_fetch_allow_private,
        )
        media = MediaService(db, clock, store, fetcher, max_bytes=settings.max_media_bytes)
        templates = TemplateService(db, clock)
        sender = OutboxSender(
            db,
            clock,
            supervisor,
            store,
            rate_per_minute=settings.outbox_rate_limit_per_minute,
            jitter=settings.outbox_rate_jitter,
            daily_cap=settings.outbox_daily_cap,
            unavailable_timeout=settings.outbox_unavailable_timeout,
            max_attempts=settings.outbox_max_attempts,
            poll_interval=settings.outbox_poll_interval,
        )
        messages = MessageService(
            db,
            clock,
            router=Router(supervisor),
            media=media,
            templates=templates,
            max_schedule_days=settings.max_schedule_days,
            on_commit=sender.wake,
        )
        recorder = InboundRecorder(
            db, clock, supervisor.engine, store, max_media=settings.max_media_bytes
        )
        supervisor.listeners.append(recorder)
        return cls(
            messages=messages,
            media=media,
            templates=templates,
            inbox=InboxService(db, clock, supervisor),
            contacts=ContactService(db, clock),
            lookups=LookupService(db, clock, supervisor),
            stats=MessageStats(db, clock),
            sender=sender,
            recorder=recorder,
        )

    async def start(self) -> None:
        await self.sender.start()

    async def stop(self) -> None:
        await self.messages.close()
        await self.sender.close()
        await self.recorder.close()
