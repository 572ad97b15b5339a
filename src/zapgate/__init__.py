"""zapgate: a self-hosted, multi-tenant WhatsApp gateway and panel."""

__version__ = "0.1.0"
