"""A real ceph server for integration tests (being written)."""
