"""The durable deliveries of the composition root: the webhook dispatcher with its
transports (HTTP, and the brokers of event exports) and body formats, and the services
that manage webhooks and exports over it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from zapgate.compat.evolution.events import EvolutionFormat, MediaReader
from zapgate.config import Settings
from zapgate.exports.transports import transports
from zapgate.services.exports import ExportService
from zapgate.services.webhooks import WebhookService
from zapgate.store.db import Database
from zapgate.util.clock import Clock
from zapgate.util.secretbox import SecretBox
from zapgate.webhooks.dispatcher import WebhookDispatcher
from zapgate.webhooks.worker import DeliveryObserver, DeliveryPolicy


@dataclass(frozen=True, slots=True)
class Deliveries:
    dispatcher: WebhookDispatcher
    webhooks: WebhookService
    exports: ExportService


def build_deliveries(
    settings: Settings,
    db: Database,
    clock: Clock,
    *,
    observer: DeliveryObserver,
    read_media: MediaReader,
) -> Deliveries:
    s = settings
    policy = DeliveryPolicy(
        timeout=s.webhook_timeout,
        allow_private=s.webhook_allow_private,
        concurrency=s.webhook_concurrency,
        retry_window=timedelta(hours=s.webhook_retry_hours),
        disable_after=timedelta(hours=s.webhook_disable_after_hours),
        pause_after=s.webhook_pause_after_failures,
        probe_every=s.webhook_probe_seconds,
    )
    # Webhook bodies in other products' formats (a webhook's ``format``).
    dispatcher = WebhookDispatcher(
        db, clock, policy, observer=observer, formats={"evolution": EvolutionFormat(read_media)}
    )
    # Event exports are destinations of the same dispatcher, with a broker transport;
    # their broker credentials are stored sealed under a key from SECRET_KEY.
    box = SecretBox(s.secret())
    dispatcher.use_transports(
        transports(
            dispatcher.http_transport,
            timeout=s.webhook_timeout,
            allow_private=s.webhook_allow_private,
            box=box,
        )
    )
    webhooks = WebhookService(db, clock, dispatcher, allow_private=s.webhook_allow_private)
    exports = ExportService(db, clock, dispatcher, allow_private=s.webhook_allow_private, box=box)
    return Deliveries(dispatcher, webhooks, exports)
