"""What the simulated network remembers, and how it survives a restart.

Everything lives under ``<data_dir>/simulator/``:

- ``state.json``: linked devices, device counters, explicit on-WhatsApp answers, groups
  and bans; small, rewritten atomically (temp file + ``os.replace``) on every change.
- ``outbox.jsonl``: one line per send attempt the network received, appended, so a
  crashed and restarted gateway is still de-duplicated by message id.
- ``media/``: incoming media bytes, so ``download_media`` works after a restart.

With no data directory the same model is kept in memory only.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from zapgate.engines.simulator.qr import lid_for

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    """A companion device the phone knows about (one per linked session)."""

    session_id: str
    phone: str
    device: int
    push_name: str | None
    linked_at: datetime

    @property
    def jid(self) -> str:
        return f"{self.phone}:{self.device}@s.whatsapp.net"

    @property
    def lid(self) -> str:
        return lid_for(self.phone)

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "phone": self.phone,
            "device": self.device,
            "push_name": self.push_name,
            "linked_at": self.linked_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinkedAccount:
        return cls(
            session_id=data["session_id"],
            phone=data["phone"],
            device=int(data["device"]),
            push_name=data.get("push_name"),
            linked_at=datetime.fromisoformat(data["linked_at"]),
        )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One message as the network received it from a connection."""

    wa_message_id: str
    to_jid: str
    type: str
    timestamp: datetime
    text: str | None = None
    media: dict[str, Any] | None = None
    """``mimetype``, ``filename``, ``size``, ``sha256``, ``caption`` (never the bytes)."""
    location: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    reaction: dict[str, Any] | None = None
    reply_to: str | None = None
    attempts: int = 1
    """How many times this id reached the network; the recipient shows it once."""
    mentions: list[str] | None = None
    """JIDs the text mentions."""
    edits: list[str] | None = None
    """The texts it was edited to, in order (``text`` stays the first one sent)."""
    revoked: bool = False
    """Deleted for everyone by this connection."""
    poll: dict[str, Any] | None = None
    """``question``, ``options``, ``multiple``."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboxEntry:
        return cls(**{**data, "timestamp": datetime.fromisoformat(data["timestamp"])})


@dataclass(slots=True)
class Group:
    jid: str
    name: str
    participants: list[str] = field(default_factory=list)
    """Phones (E.164 digits); the first one created the group and is its super admin."""
    topic: str | None = None
    admins: list[str] = field(default_factory=list)
    """Phones that are admins; empty (a group stored before admins were modelled) means
    the creator alone."""
    picture: str | None = None
    """The picture's id (a content hash), or None without one."""
    invite: str | None = None
    """The current invite code; revoking it makes a new one."""

    def is_admin(self, phone: str) -> bool:
        if not self.admins:
            return bool(self.participants) and self.participants[0] == phone
        return phone in self.admins

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        return cls(
            jid=data["jid"],
            name=data["name"],
            participants=list(data["participants"]),
            topic=data.get("topic"),
            admins=list(data.get("admins") or []),
            picture=data.get("picture"),
            invite=data.get("invite"),
        )


class Persistence:
    """Files under ``<data_dir>/simulator``; every method is a no-op without a directory."""

    def __init__(self, data_dir: Path | None) -> None:
        self.root = data_dir / "simulator" if data_dir is not None else None
        if self.root is not None:
            (self.root / "media").mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- state.json

    def load_state(self) -> dict[str, Any]:
        if self.root is None or not (self.root / "state.json").exists():
            return {}
        data: dict[str, Any] = json.loads((self.root / "state.json").read_text("utf-8"))
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported simulator state version {data.get('version')!r}")
        return data

    def save_state(self, data: dict[str, Any]) -> None:
        if self.root is not None:
            _atomic_write(
                self.root / "state.json",
                json.dumps({"version": STATE_VERSION, **data}, indent=1, sort_keys=True),
            )

    # ---------------------------------------------------------------- outbox.jsonl

    def load_outbox(self) -> list[tuple[str, OutboxEntry]]:
        """Every recorded attempt in order, as ``(session_id, entry)``."""
        if self.root is None or not (self.root / "outbox.jsonl").exists():
            return []
        rows: list[tuple[str, OutboxEntry]] = []
        for line in (self.root / "outbox.jsonl").read_text("utf-8").splitlines():
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                # A crash while appending leaves at most a torn last line: that attempt
                # never completed, so the network never received it.
                continue
            session_id = data.pop("session_id")
            rows.append((session_id, OutboxEntry.from_json(data)))
        return rows

    def append_outbox(self, session_id: str, entry: OutboxEntry) -> None:
        if self.root is None:
            return
        line = json.dumps({"session_id": session_id, **entry.to_json()}, sort_keys=True)
        # Written and closed before the send returns, so a crash of the gateway's process
        # cannot lose it. No fsync: the file stands for a remote network, not for zapgate's
        # own durability, and an fsync per message would stall the event loop in benchmarks.
        with (self.root / "outbox.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def rewrite_outbox(self, rows: list[tuple[str, OutboxEntry]]) -> None:
        if self.root is None:
            return
        lines = (
            json.dumps({"session_id": sid, **entry.to_json()}, sort_keys=True)
            for sid, entry in rows
        )
        _atomic_write(self.root / "outbox.jsonl", "".join(line + "\n" for line in lines))

    # ---------------------------------------------------------------- media

    def save_media(self, key: str, data: bytes) -> None:
        if self.root is not None:
            _atomic_write_bytes(self.root / "media" / key, data)

    def load_media(self, key: str) -> bytes | None:
        if self.root is None:
            return None
        path = self.root / "media" / key
        return path.read_bytes() if path.is_file() else None

    def delete_media(self, key: str) -> None:
        if self.root is not None:
            (self.root / "media" / key).unlink(missing_ok=True)


def _atomic_write(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    # Write beside the target and rename over it: a crash leaves the old file or the
    # new one, never half of each.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
