"""The send worker: drains the ``messages`` outbox (``sender``).

A driver beside the edges (``api/``, ``web/``, ``compat/``): it drives the messaging use
cases as they do. The composition root builds it and hands its wake-up to the services
(``services/messaging.py``), which never import it."""
