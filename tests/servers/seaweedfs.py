"""A real seaweedfs server for integration tests (being written)."""
