"""Event exports: the webhooks' durable delivery, published to a message broker.

An export is a destination of another ``kind`` in the webhooks' tables, so fan-out,
claims, outcomes, retries and retention are the ``webhooks`` package's; this package
holds only what differs:

- ``addresses``: broker URLs (checked, their password masked in answers) and the
  routing key / subject of an event.
- ``credentials``: how a broker URL is stored, masked with its credentials sealed.
- ``amqp`` (RabbitMQ, publisher confirms) and ``jetstream`` (NATS JetStream, publish
  acknowledgements): the ``webhooks.transport.Transport`` of each kind.
- ``transports``: the factory the runtime hands the dispatcher.

Exports are ordered: the worker claims a batch of the lowest pending event ids, the
transport publishes it in that order and waits for its confirmations while the next
batches (``publishing.EXPORT_DEPTH`` in flight) go out behind it on the same
connection, and a failed publish holds back the later events until it is retried.
``coalesce`` makes RabbitMQ's publishes of one loop turn one ``send``.
"""
