"""Compatibility layers: other products' APIs translated onto zapgate's services.

An adapter at the edge, beside ``api/``: it imports only ``services/``, ``domain/`` and
``util/`` and holds no business rule of its own.
"""
