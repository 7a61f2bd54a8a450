"""In-memory fakes of the ports, for fast tests of the core and the HTTP layer.

They follow the port contracts (the contract suites run on them too) but keep nothing
between processes; they are never the proof that a real adapter works.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from assets_registry.core.errors import (
    AssetExists,
    AssetNotFound,
    BlobNotFound,
    Conflict,
    JobNotFound,
    RevisionMismatch,
)
from assets_registry.core.filters import Filter
from assets_registry.core.lookups import Lookup, lookup_filter
from assets_registry.core.ports import (
    PROCESSING,
    QUEUED,
    BlobInfo,
    Document,
    Page,
    StoredAsset,
    StoredBlob,
    UploadJob,
)
from assets_registry.plugins.store_helpers import read_each


class MemoryMetadataStore:
    def __init__(self) -> None:
        self._assets: dict[str, StoredAsset] = {}
        self._lock = threading.Lock()

    def insert(self, document: Document) -> StoredAsset:
        with self._lock:
            asset_id = document["asset_id"]
            if asset_id in self._assets:
                raise AssetExists(asset_id)
            stored = StoredAsset(copy.deepcopy(document), 1)
            self._assets[asset_id] = stored
            return stored

    def get(self, asset_id: str) -> StoredAsset:
        with self._lock:
            if asset_id not in self._assets:
                raise AssetNotFound(asset_id)
            stored = self._assets[asset_id]
            return StoredAsset(copy.deepcopy(stored.document), stored.revision)

    def update(self, asset_id: str, document: Document, expected_revision: int) -> StoredAsset:
        with self._lock:
            current = self._assets.get(asset_id)
            if current is None:
                raise AssetNotFound(asset_id)
            if current.revision != expected_revision:
                raise RevisionMismatch(asset_id)
            stored = StoredAsset(copy.deepcopy(document), expected_revision + 1)
            self._assets[asset_id] = stored
            return stored

    def delete(self, asset_id: str, expected_revision: int | None = None) -> None:
        with self._lock:
            current = self._assets.get(asset_id)
            if current is None:
                raise AssetNotFound(asset_id)
            if expected_revision is not None and current.revision != expected_revision:
                raise RevisionMismatch(asset_id)
            del self._assets[asset_id]

    def find(self, flt: Filter, limit: int, after: str | None = None) -> Page:
        with self._lock:
            ids = sorted(i for i in self._assets if after is None or i > after)
            matches = [self._assets[i].document for i in ids if flt.matches(self._assets[i].document)]
        if len(matches) > limit:
            return Page(copy.deepcopy(matches[:limit]), matches[limit - 1]["asset_id"])
        return Page(copy.deepcopy(matches))

    def find_by_type(self, asset_type: str, limit: int, after: str | None = None) -> Page:
        return self.find(lookup_filter(Lookup.TYPE, asset_type), limit, after)

    def find_by_sub_type(self, sub_type: str, limit: int, after: str | None = None) -> Page:
        return self.find(lookup_filter(Lookup.SUB_TYPE, sub_type), limit, after)

    def find_by_tag(self, tag: str, limit: int, after: str | None = None) -> Page:
        return self.find(lookup_filter(Lookup.TAG, tag), limit, after)

    def find_by_api_route(self, route: str, limit: int, after: str | None = None) -> Page:
        return self.find(lookup_filter(Lookup.API_ROUTE, route), limit, after)

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass


class MemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._written: dict[str, float] = {}

    def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
        data = b"".join(chunks)
        self._blobs[key] = data
        self._written[key] = time.time()
        return BlobInfo(key, f"memory:///{key}", len(data), hashlib.sha256(data).hexdigest())

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if key not in self._blobs:
            raise BlobNotFound(key)
        data = self._blobs[key]
        end = len(data) if length is None else start + length
        return iter([data[start:end]] if data[start:end] else [])

    def stat(self, key: str) -> BlobInfo:
        if key not in self._blobs:
            raise BlobNotFound(key)
        return BlobInfo(key, f"memory:///{key}", len(self._blobs[key]))

    def missing(self, keys: Sequence[str]) -> list[str]:
        return [key for key in dict.fromkeys(keys) if key not in self._blobs]

    def read_many(self, items: Iterable[tuple[str, int]]) -> Iterator[bytes]:
        return read_each(self.read, items)

    def delete(self, key: str) -> None:
        self._blobs.pop(key, None)
        self._written.pop(key, None)

    def listing(self, folder: str) -> Iterator[StoredBlob]:
        found = [StoredBlob(k, len(v), self._written[k]) for k, v in self._blobs.items() if k.startswith(folder)]
        return iter(found)

    def key_for_url(self, url: str) -> str | None:
        return url.removeprefix("memory:///") if url.startswith("memory:///") else None

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass


class MemoryJobTracker:
    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def submit(self, upload_id: str, staged_key: str) -> UploadJob:
        with self._lock:
            if upload_id in self._jobs:
                raise Conflict(f"An upload with the id {upload_id!r} already exists.")
            now = time.time()
            self._jobs[upload_id] = {
                "job": UploadJob(upload_id, QUEUED, staged_key, created_at=now, updated_at=now),
                "worker": None,
                "lease_until": 0.0,
            }
            return self._jobs[upload_id]["job"]  # type: ignore[no-any-return]

    def get(self, upload_id: str) -> UploadJob:
        with self._lock:
            if upload_id not in self._jobs:
                raise JobNotFound(upload_id)
            return self._jobs[upload_id]["job"]  # type: ignore[no-any-return]

    def _set(self, upload_id: str, **changes: Any) -> UploadJob:
        entry = self._jobs[upload_id]
        fields = {k: v for k, v in changes.items() if k not in ("worker", "lease_until")}
        job: UploadJob = entry["job"]
        entry["job"] = UploadJob(**{**job.__dict__, **fields, "updated_at": time.time()})
        for key in ("worker", "lease_until"):
            if key in changes:
                entry[key] = changes[key]
        return entry["job"]  # type: ignore[no-any-return]

    def open_jobs(self) -> dict[str, int]:
        with self._lock:
            states = [entry["job"].status for entry in self._jobs.values()]
        return {QUEUED: states.count(QUEUED), PROCESSING: states.count(PROCESSING)}

    def claim(self, worker: str, lease_seconds: float) -> UploadJob | None:
        with self._lock:
            now = time.time()
            for upload_id, entry in sorted(self._jobs.items(), key=lambda kv: kv[1]["job"].created_at):
                job: UploadJob = entry["job"]
                expired = job.status == PROCESSING and entry["lease_until"] < now
                if job.status == QUEUED or expired:
                    return self._set(
                        upload_id,
                        status=PROCESSING,
                        attempts=job.attempts + 1,
                        worker=worker,
                        lease_until=now + lease_seconds,
                    )
            return None

    def _holds(self, upload_id: str, worker: str) -> bool:
        entry = self._jobs.get(upload_id)
        return entry is not None and entry["worker"] == worker and entry["job"].status == PROCESSING

    def renew(self, upload_id: str, worker: str, lease_seconds: float, progress: dict[str, Any] | None = None) -> bool:
        with self._lock:
            if not self._holds(upload_id, worker):
                return False
            extra = {"progress": progress} if progress is not None else {}
            self._set(upload_id, lease_until=time.time() + lease_seconds, **extra)
            return True

    def finish(self, upload_id: str, worker: str, status: str, asset_id: str | None = None) -> bool:
        with self._lock:
            if not self._holds(upload_id, worker):
                return False
            extra = {"asset_id": asset_id} if asset_id is not None else {}
            self._set(upload_id, status=status, worker=None, **extra)
            return True

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass
