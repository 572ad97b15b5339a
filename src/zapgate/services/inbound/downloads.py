"""Media of inbound messages, downloaded at receipt, before the transaction: network
I/O never holds the write lock. A failed download keeps the message, with the error."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from zapgate.domain.errors import EngineError
from zapgate.engines.base import Engine
from zapgate.engines.events import InboundMessage
from zapgate.services.inbound.work import ReceivedMessage
from zapgate.services.media import MediaStore, media_row, received_media_type
from zapgate.store.db import Database
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 120.0


class MediaDownloads:
    def __init__(
        self, db: Database, clock: Clock, engine: Engine, media: MediaStore, *, max_media: int
    ) -> None:
        self._db = db
        self._clock = clock
        self._engine = engine
        self._media = media
        self._max_media = max_media

    async def prepare(
        self, connection_id: str, message: InboundMessage, *, history: bool
    ) -> ReceivedMessage:
        """``message`` with its media saved in the media store (not yet as a row of an
        organization), unless it is history, already stored, or too large."""
        ref = message.media
        if ref is None or history:
            return ReceivedMessage(message, None, None, history)
        if await self._known(connection_id, message.wa_message_id):
            return ReceivedMessage(message, None, None, history)
        if ref.size is not None and ref.size > self._max_media:
            return ReceivedMessage(message, None, "media_too_large", history)
        try:
            data = await asyncio.wait_for(
                self._engine.download_media(connection_id, ref), DOWNLOAD_TIMEOUT
            )
        except (EngineError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, EngineError) else "timeout"
            log.warning(
                "incoming media download failed",
                extra={"connection_id": connection_id, "code": code},
            )
            return ReceivedMessage(message, None, code, history)
        if len(data) > self._max_media:
            # The declared size is only the sender's word, and may be missing: the bytes
            # themselves are held to the limit too. (Engines hand over whole bytes, so this
            # can only refuse to keep them, not stop the download.)
            return ReceivedMessage(message, None, "media_too_large", history)
        stored = await self._media.save(data)
        row = media_row(
            stored,
            organization_id="",
            mimetype=received_media_type(ref.mimetype, data, ref.filename),
            filename=ref.filename,
            now=self._clock.now(),
        )
        return ReceivedMessage(message, row, None, history)

    async def _known(self, connection_id: str, wa_message_id: str) -> bool:
        async with self._db.read() as s:
            found = await s.scalar(
                select(MessageRow.id).where(
                    MessageRow.connection_id == connection_id,
                    MessageRow.wa_message_id == wa_message_id,
                )
            )
        return found is not None
