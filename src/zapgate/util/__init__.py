"""Small building blocks shared by every layer: time, backoff, owned tasks."""
