"""Webhooks: everything between an event committed and a signed POST answered.

A background-worker layer, beside ``outbox/`` (which keeps the send queue): below
``services/`` (whose ``webhooks.py`` owns the endpoints per organization, the delivery
log and redelivery) and above ``events/`` and ``store/``. The runtime wires it in:

- ``fanout``: one delivery per matching webhook, queued in each event's transaction
  (an in-transaction event hook, ``events.log.event_hooks``); ``retention`` prunes
  finished deliveries with the events (a hook of ``events.retention``).
- ``dispatcher``: one owned ``worker`` per enabled webhook. A worker claims due rows
  (``claims``), sends each (``attempts``: the body from ``bodies``, ``signing``, the
  HTTP ``client`` connecting only to addresses ``urls`` allowed) and records the
  outcomes (``outcomes``).
"""
