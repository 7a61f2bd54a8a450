"""A real redis server for integration tests (being written)."""
