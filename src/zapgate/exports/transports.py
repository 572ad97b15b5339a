"""The transport factory the runtime hands the webhook dispatcher: by destination kind."""

from __future__ import annotations

from zapgate.exports.addresses import KIND_NATS, KIND_RABBITMQ
from zapgate.exports.amqp import AmqpTransport
from zapgate.exports.jetstream import JetStreamTransport
from zapgate.util.secretbox import SecretBox
from zapgate.webhooks.transport import Endpoint, Transport, TransportFactory


def transports(
    http: TransportFactory, *, timeout: float, allow_private: bool, box: SecretBox
) -> TransportFactory:
    """Webhooks go to ``http``; exports to their broker's transport, which opens the
    export's sealed credentials with ``box``."""

    def build(endpoint: Endpoint) -> Transport:
        if endpoint.kind == KIND_RABBITMQ:
            return AmqpTransport(endpoint, timeout=timeout, allow_private=allow_private, box=box)
        if endpoint.kind == KIND_NATS:
            return JetStreamTransport(
                endpoint, timeout=timeout, allow_private=allow_private, box=box
            )
        return http(endpoint)

    return build
