"""Media: files under ``DATA_DIR/media`` and their rows (sha256, mimetype, size).

Uploads, fetched URLs, base64 bodies and incoming media all end up here before a
message refers to them, so the outbox never depends on a URL still answering or a
client still holding the bytes when the send finally happens.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import mimetypes
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Invalid, NotFound, PayloadTooLarge
from zapgate.domain.ids import is_id, new_id
from zapgate.domain.mediatypes import MAX_MEDIA_TYPE, OCTET_STREAM, media_type, safe_filename
from zapgate.domain.messages import MessageType
from zapgate.domain.roles import Role
from zapgate.services.context import Principal
from zapgate.services.fetch import MediaFetcher
from zapgate.services.visibility import visible_chats
from zapgate.store.db import Database
from zapgate.store.tables.conversations import ChatRow
from zapgate.store.tables.messages import MediaRow, MessageRow
from zapgate.util.clock import Clock

MiB = 1024 * 1024
# WhatsApp's own limits per kind; documents may go up to the server's media limit.
TYPE_LIMITS = {
    MessageType.IMAGE: 16 * MiB,
    MessageType.STICKER: 1 * MiB,
    MessageType.VIDEO: 16 * MiB,
    MessageType.AUDIO: 16 * MiB,
    MessageType.VOICE: 16 * MiB,
}
_SNIFF = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
)


def guess_mimetype(data: bytes, filename: str | None) -> str:
    for magic, kind in _SNIFF:
        if data.startswith(magic):
            return kind
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
    return "application/octet-stream"


def checked_media_type(value: str) -> str:
    """A type our user gave (a form field, a part's header, ``media.mimetype``, a data
    URL), canonical; anything else is refused rather than guessed."""
    canonical = media_type(value)
    if canonical is None:
        raise Invalid(
            "mimetype must be a media type such as image/png or text/plain; charset=utf-8 "
            f"(type/subtype, optional ;name=value parameters, printable ASCII, at most "
            f"{MAX_MEDIA_TYPE} characters)",
            code="invalid_mimetype",
        )
    return canonical


def received_media_type(declared: str | None, data: bytes, filename: str | None) -> str:
    """The type to keep for a file someone else described (WhatsApp, a remote server):
    theirs when it is one, else what the bytes look like."""
    return media_type(declared) or guess_mimetype(data, filename)


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    path: str
    sha256: str
    size: int


def stored_file(media_id: str, data: bytes) -> StoredFile:
    """What a store keeps for ``data`` saved as ``media_id``: its path under the store."""
    return StoredFile(
        media_id, f"{media_id[-2:]}/{media_id}", hashlib.sha256(data).hexdigest(), len(data)
    )


class MediaStore:
    """Files named by media id under ``root``; written atomically (temp file + rename).
    In cluster mode ``media_blobs.DatabaseMediaStore`` keeps them in the database."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _write(self, relative: str, data: bytes) -> None:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)

    async def save(self, data: bytes) -> StoredFile:
        stored = stored_file(new_id(), data)
        # Small files are written inline; a thread hop costs more than the write.
        if len(data) < 256 * 1024:
            self._write(stored.path, data)
        else:
            await asyncio.to_thread(self._write, stored.path, data)
        return stored

    async def read(self, path: str) -> bytes:
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise NotFound("media not found", code="media_not_found")
        try:
            return await asyncio.to_thread(target.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound("media file is missing", code="media_not_found") from exc

    async def remove(self, path: str) -> None:
        (self.root / path).unlink(missing_ok=True)


def media_row(
    stored: StoredFile,
    *,
    organization_id: str,
    mimetype: str,
    filename: str | None,
    now: datetime,
) -> MediaRow:
    return MediaRow(
        id=stored.id,
        organization_id=organization_id,
        sha256=stored.sha256,
        # Callers pass a checked type; this keeps anything else out of the table.
        mimetype=media_type(mimetype) or OCTET_STREAM,
        filename=safe_filename(filename),
        size=stored.size,
        path=stored.path,
        created_at=now,
    )


class MediaService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        store: MediaStore,
        fetcher: MediaFetcher,
        *,
        max_bytes: int,
    ) -> None:
        self._db = db
        self._clock = clock
        self.store = store
        self.fetcher = fetcher
        self.max_bytes = max_bytes

    def check_size(self, size: int, kind: MessageType | None = None) -> None:
        limit = min(
            self.max_bytes, TYPE_LIMITS.get(kind, self.max_bytes) if kind else self.max_bytes
        )
        if size > limit:
            what = f"{kind.value} " if kind else ""
            raise PayloadTooLarge(
                f"{what}media is larger than {limit} bytes",
                code="media_too_large",
                details={"limit": limit, "size": size},
            )
        if size == 0:
            raise Invalid("media is empty", code="invalid_media")

    async def save(
        self,
        principal: Principal,
        data: bytes,
        *,
        mimetype: str | None,
        filename: str | None,
        kind: MessageType | None = None,
    ) -> MediaRow:
        principal.require(Role.AGENT)
        self.check_size(len(data), kind)
        kept = checked_media_type(mimetype) if mimetype else guess_mimetype(data, filename)
        stored = await self.store.save(data)
        row = media_row(
            stored,
            organization_id=principal.organization_id,
            mimetype=kept,
            filename=filename,
            now=self._clock.now(),
        )
        try:
            async with self._db.write() as s:
                s.add(row)
        except BaseException:
            await self.store.remove(stored.path)
            raise
        return row

    async def from_base64(
        self,
        principal: Principal,
        value: str,
        *,
        mimetype: str | None,
        filename: str | None,
        kind: MessageType | None = None,
    ) -> MediaRow:
        if value.startswith("data:") and "," in value:
            header, value = value.split(",", 1)
            # data:[<media type, parameters included>][;base64],<data>
            mimetype = mimetype or header[5:].removesuffix(";base64") or None
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Invalid("media.base64 is not valid base64", code="invalid_media") from exc
        return await self.save(principal, data, mimetype=mimetype, filename=filename, kind=kind)

    async def from_url(
        self,
        principal: Principal,
        url: str,
        *,
        mimetype: str | None,
        filename: str | None,
        kind: MessageType | None = None,
    ) -> MediaRow:
        principal.require(Role.AGENT)
        limit = min(
            self.max_bytes, TYPE_LIMITS.get(kind, self.max_bytes) if kind else self.max_bytes
        )
        fetched = await self.fetcher.fetch(url, max_bytes=limit)
        return await self.save(
            principal,
            fetched.data,
            # The server's type is not our user's word: an invalid one is sniffed instead.
            mimetype=mimetype or media_type(fetched.mimetype),
            filename=filename or fetched.filename,
            kind=kind,
        )

    async def _get(self, s: AsyncSession, principal: Principal, media_id: str) -> MediaRow:
        """A file the caller may see: of its organization and, for an agent, one that no
        message carries yet (an upload) or that a message of a chat it sees carries."""
        row = await s.get(MediaRow, media_id) if is_id(media_id) else None
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("media not found", code="media_not_found")
        if not principal.sees_all_chats and await _only_in_hidden_chats(s, principal, media_id):
            raise NotFound("media not found", code="media_not_found")
        return row

    async def get(self, principal: Principal, media_id: str) -> MediaRow:
        async with self._db.read() as s:
            return await self._get(s, principal, media_id)

    async def content(self, principal: Principal, media_id: str) -> tuple[MediaRow, bytes]:
        row = await self.get(principal, media_id)
        return row, await self.store.read(row.path)

    async def for_delivery(
        self, organization_id: str, media_id: str, *, max_bytes: int
    ) -> bytes | None:
        """A file of the organization to put into a webhook body (not a caller's
        request: no role applies); None when gone, unreadable or over ``max_bytes``."""
        async with self._db.read() as s:
            row = await s.get(MediaRow, media_id) if is_id(media_id) else None
        if row is None or row.organization_id != organization_id or row.size > max_bytes:
            return None
        try:
            return await self.store.read(row.path)
        except (NotFound, OSError):
            return None


async def _only_in_hidden_chats(s: AsyncSession, principal: Principal, media_id: str) -> bool:
    carried = exists().where(MessageRow.media_id == media_id)
    seen = exists().where(
        MessageRow.media_id == media_id,
        MessageRow.chat_id == ChatRow.id,
        visible_chats(principal),
    )
    return bool(await s.scalar(select(and_(carried, ~seen))))
