"""Compatibility layers: other products' APIs translated onto zapgate's services.

An adapter at the edge, beside ``api/``: it reaches the system through
``services/system.System``, imports only ``services/``, ``domain/`` and ``util/`` (lower
types only for type checking) and holds no business rule of its own.
"""
