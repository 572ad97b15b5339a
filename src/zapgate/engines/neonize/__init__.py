"""engines neonize package."""
