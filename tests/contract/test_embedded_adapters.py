"""The embedded adapters, and the in-memory fakes, against the port contracts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.adapters.sqlite import SqliteJobTracker, SqliteMetadataStore
from assets_registry.core.ports import BlobStore, JobTracker, MetadataStore
from assets_registry.testing.blob_contract import BlobStoreContract
from assets_registry.testing.jobs_contract import JobTrackerContract
from assets_registry.testing.memory import MemoryBlobStore, MemoryJobTracker, MemoryMetadataStore
from assets_registry.testing.metadata_contract import MetadataStoreContract


class TestSqliteMetadataStore(MetadataStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[MetadataStore]:
        store = SqliteMetadataStore(tmp_path / "registry.db")
        yield store
        store.close()


class TestMemoryMetadataStore(MetadataStoreContract):
    @pytest.fixture
    def store(self) -> MetadataStore:
        return MemoryMetadataStore()


class TestFilesystemBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> BlobStore:
        return FilesystemBlobStore(tmp_path / "blobs")


class TestMemoryBlobStore(BlobStoreContract):
    test_large_blobs_stream_with_bounded_memory = None  # type: ignore[assignment]  # the fake holds blobs in memory

    @pytest.fixture
    def blobs(self) -> BlobStore:
        return MemoryBlobStore()


class TestSqliteJobTracker(JobTrackerContract):
    @pytest.fixture
    def jobs(self, tmp_path: Path) -> Iterator[JobTracker]:
        tracker = SqliteJobTracker(tmp_path / "jobs.db")
        yield tracker
        tracker.close()


class TestMemoryJobTracker(JobTrackerContract):
    @pytest.fixture
    def jobs(self) -> JobTracker:
        return MemoryJobTracker()
