"""Webhooks: everything between an event committed and a signed POST answered.

In the layers it sits below ``services/`` (whose ``webhooks.py`` owns the endpoints per
organization, ``deliveries.py`` the delivery log and redelivery) and ``exports/`` (which
brings the broker transports), and above ``events/`` and ``store/``. The runtime wires it
in:

- ``fanout``: one delivery per matching webhook, queued in each event's transaction
  (an in-transaction event hook, ``events.log.event_hooks``); ``retention`` prunes
  finished deliveries with the events (a hook of ``events.retention``).
- ``dispatcher``: one owned ``worker`` per enabled webhook or export. A worker claims
  due rows (``claims``), hands them to its destination's ``transport`` (for a webhook,
  ``attempts``: the body from ``bodies``, ``signing``, the HTTP ``client`` connecting
  only to addresses ``urls`` allowed; for an export, the broker transports of
  ``zapgate.exports``) and records the outcomes (``outcomes``).
"""
