"""One running simulated session: where it is in its life and the tasks working for it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from zapgate.engines.base import SessionSpec


class Phase(StrEnum):
    STARTING = "starting"
    """Dialing: the first event has not been emitted yet."""
    QR = "qr"
    """QR codes rotating, waiting for a scan."""
    PAIRING = "pairing"
    """A pairing code is pending; QR rotation is stopped."""
    SYNCING = "syncing"
    """Paired; ``Connected`` follows after the sync delay."""
    CONNECTED = "connected"
    """Logged in: sends, receipts and incoming messages flow."""


@dataclass(frozen=True, slots=True)
class PendingQr:
    code: str
    expires_at: datetime
    index: int


@dataclass(frozen=True, slots=True)
class PendingPairing:
    code: str
    phone: str
    expires_at: datetime


class SimSession:
    """Lives from ``open_session`` until the session ends, for whatever reason."""

    def __init__(self, spec: SessionSpec) -> None:
        self.spec = spec
        self.behaviour = spec.behaviour
        self.phase = Phase.STARTING
        self.qr: PendingQr | None = None
        self.pairing: PendingPairing | None = None
        self.silenced = False
        self.flow: asyncio.Task[Any] | None = None
        """The one step running now (QR rotation, pairing timer, sync); replaced on moves."""
        self.ended = asyncio.Event()
        """Set when the session ends, so calls waiting on a silenced session give up."""

    @property
    def session_id(self) -> str:
        return self.spec.session_id

    @property
    def answering(self) -> bool:
        return self.phase is Phase.CONNECTED and not self.silenced

    def stop_flow(self) -> asyncio.Task[Any] | None:
        """Cancel the current step unless it is the caller itself; returns it to await."""
        flow, self.flow = self.flow, None
        if flow is None or flow is asyncio.current_task() or flow.done():
            return None
        flow.cancel()
        return flow
