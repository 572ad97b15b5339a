"""neonize is imported once by the top-level conftest (``tests/neonize_import.py``)."""
