"""Accepting a send, piece by piece (``MessageService.send`` in ``services/messages.py``
puts them together): the request's shape and schedule (``requests``), what its
Idempotency-Key stands for (``idempotency``), its media and the messages it refers to
(``content``), and the group commit that routes and stores it (``accepts``)."""
