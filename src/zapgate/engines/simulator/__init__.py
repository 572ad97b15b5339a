"""engines simulator package."""
