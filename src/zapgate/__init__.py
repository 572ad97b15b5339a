"""zapgate."""
