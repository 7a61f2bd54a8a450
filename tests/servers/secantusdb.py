"""A real secantusdb server for integration tests (being written)."""
