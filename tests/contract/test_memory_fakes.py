"""The test kit's in-memory fakes against the port contracts: a fake that drifts from a port misleads."""

from __future__ import annotations

import pytest

from assets_registry.core.ports import BlobStore, JobTracker, MetadataStore
from assets_registry.testing import (
    BlobStoreContract,
    JobTrackerContract,
    MemoryBlobStore,
    MemoryJobTracker,
    MemoryMetadataStore,
    MetadataStoreContract,
)


class TestMemoryMetadataStore(MetadataStoreContract):
    @pytest.fixture
    def store(self) -> MetadataStore:
        return MemoryMetadataStore()


class TestMemoryBlobStore(BlobStoreContract):
    test_large_blobs_stream_with_bounded_memory = None  # type: ignore[assignment]  # the fake holds blobs in memory

    @pytest.fixture
    def blobs(self) -> BlobStore:
        return MemoryBlobStore()


class TestMemoryJobTracker(JobTrackerContract):
    @pytest.fixture
    def jobs(self) -> JobTracker:
        return MemoryJobTracker()
