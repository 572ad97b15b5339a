"""The simulator engine: a deterministic WhatsApp network in process.

It implements :class:`~zapgate.engines.base.Engine` like the neonize engine, for demos,
tests and benchmarks, and adds control methods that play the phones and customers
(scan a QR code, type a pairing code, send a message, acknowledge, drop, ban...).
Time comes from the injected clock, so tests drive QR rotation and receipt delays with
``ManualClock.advance`` instead of sleeping.

Layout: ``qr`` (identifiers), ``settings`` (run-time knobs), ``state`` (what survives a
restart), ``network`` (phones, devices, groups, what the recipients received),
``session`` + ``lifecycle`` (one session's life and its timers), ``inbound`` (customer
messages), ``control`` (the control methods), ``engine`` (the protocol methods).
"""

from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.engines.simulator.inbound import SimMedia
from zapgate.engines.simulator.network import (
    NOT_ON_WHATSAPP_SUFFIX,
    PresenceRecord,
    ReadRecord,
)
from zapgate.engines.simulator.session import PendingPairing, PendingQr, Phase
from zapgate.engines.simulator.settings import SimulatorSettings
from zapgate.engines.simulator.state import LinkedAccount, OutboxEntry

__all__ = [
    "NOT_ON_WHATSAPP_SUFFIX",
    "LinkedAccount",
    "OutboxEntry",
    "PendingPairing",
    "PendingQr",
    "Phase",
    "PresenceRecord",
    "ReadRecord",
    "SimMedia",
    "SimulatorEngine",
    "SimulatorSettings",
]
