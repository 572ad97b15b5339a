"""The messaging use cases, built together (one field of the Runtime).

The inbound recorder is registered as a supervisor listener here, *before* the
supervisor starts, so no message reported during restore is missed. The send worker
(``outbox/``) is not built here: it drives these use cases, so the composition root
builds it and hands ``on_accept`` (its wake-up) in; services never import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zapgate.config import Settings
from zapgate.services.calls import CallRecorder
from zapgate.services.commands import Commands
from zapgate.services.contacts import ContactService
from zapgate.services.fence import LeaseFence
from zapgate.services.fetch import MediaFetcher
from zapgate.services.group_changes import GroupChangeRecorder
from zapgate.services.groups import GroupService
from zapgate.services.inbound.changes import MessageChangeRecorder
from zapgate.services.inbound.recorder import InboundRecorder
from zapgate.services.inbox import InboxService
from zapgate.services.lookups import LookupService
from zapgate.services.media import MediaService, MediaStore
from zapgate.services.message_changes import MessageChanges
from zapgate.services.message_stats import MessageStats
from zapgate.services.messages import MessageService
from zapgate.services.presence import PresenceRecorder
from zapgate.services.profiles import ProfileService
from zapgate.services.routing import Router
from zapgate.services.templates import TemplateService
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.util.clock import Clock


@dataclass
class Messaging:
    messages: MessageService
    changes: MessageChanges
    media: MediaService
    templates: TemplateService
    inbox: InboxService
    contacts: ContactService
    lookups: LookupService
    groups: GroupService
    stats: MessageStats
    recorder: InboundRecorder
    profiles: ProfileService

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        clock: Clock,
        supervisor: Supervisor,
        *,
        commands: Commands,
        store: MediaStore,
        on_accept: Callable[[str | None], None],
    ) -> Messaging:
        """``on_accept(connection_id)`` runs after a commit that queued messages."""
        fetcher = MediaFetcher(
            timeout=settings.media_fetch_timeout,
            allow_private=settings.media_fetch_allow_private,
        )
        media = MediaService(db, clock, store, fetcher, max_bytes=settings.max_media_bytes)
        templates = TemplateService(db, clock)
        messages = MessageService(
            db,
            clock,
            router=Router(supervisor),
            media=media,
            templates=templates,
            max_schedule_days=settings.max_schedule_days,
            on_commit=on_accept,
        )
        # In a cluster what runners receive is written only under their lease.
        fence = LeaseFence(supervisor.node_id, supervisor.epoch_of)
        recorder = InboundRecorder(
            db,
            clock,
            supervisor.engine,
            store,
            max_media=settings.max_media_bytes,
            fence=fence,
        )
        supervisor.listeners.append(recorder)
        supervisor.listeners.append(MessageChangeRecorder(db, clock, fence))
        supervisor.listeners.append(GroupChangeRecorder(db, clock, fence))
        supervisor.listeners.append(CallRecorder(db, clock, on_accept, fence))
        supervisor.listeners.append(PresenceRecorder(db, clock, fence))
        return cls(
            messages=messages,
            changes=MessageChanges(db, clock, commands),
            media=media,
            templates=templates,
            inbox=InboxService(db, clock, commands),
            contacts=ContactService(db, clock),
            lookups=LookupService(db, clock, commands),
            groups=GroupService(db, clock, commands, media),
            stats=MessageStats(db, clock),
            recorder=recorder,
            profiles=ProfileService(db, clock, commands, media),
        )

    async def stop(self) -> None:
        await self.messages.close()
        await self.recorder.close()
