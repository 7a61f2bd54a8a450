"""Files leave with their asset, and a sweep finds what a crash left behind.

Two parts, because a metadata change and the deletion of blobs cannot be one transaction
on every pair of backends (SQLite and files, MongoDB and S3):

- ``free_replaced`` runs after an update or delete has committed (a ``Registry`` listener):
  the blobs of the replaced version that the asset no longer points at are deleted, on a
  thread of their own, so a delete of 10,000 files answers at once. A blob the asset still
  points at is never deleted: the current version is read first.
- ``sweep`` (``assets-registry gc``, and every ``gc_interval_seconds`` in the workers) finds
  what a crash between the two, or a worker killed between a job's ending and its clean-up,
  left: files no asset points at, staged archives whose job has ended or is unknown. Only
  blobs untouched for ``grace_seconds`` are taken, and never those of an upload whose job is
  still queued or running, so an upload in flight keeps everything it is writing. A
  resumable upload is kept until it expires (``resumable_expiry_seconds`` after its last
  append), finished or not: its record answers a client that asks after its last append.

Only the registry's own keys (``assets/``, ``staging/``) are ever deleted; a file URL
outside the store is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from assets_registry.core import history
from assets_registry.core.bundles.keys import FILES_PREFIX, STAGING_PREFIX, resumable_key
from assets_registry.core.errors import AssetNotFound, JobNotFound
from assets_registry.core.filters import compile_filter
from assets_registry.core.ports import BlobStore, JobTracker, StoredAsset, StoredBlob
from assets_registry.core.registry import Registry

log = logging.getLogger("assets_registry.janitor")

DEFAULT_GRACE_SECONDS = 24 * 3600.0
"""Blobs written this recently are spared: an upload streams for a while before its job exists."""
PAGE = 1000
URLS_PER_QUERY = 200


@dataclass(frozen=True)
class Orphan:
    blob: StoredBlob
    reason: str


@dataclass
class SweepReport:
    """What a sweep found (and, unless a dry run, deleted)."""

    orphans: list[Orphan] = field(default_factory=list)
    spared: int = 0
    deleted: int = 0
    dry_run: bool = False
    refused: str | None = None
    """Why nothing was swept, when the sweep would not trust what it saw."""

    @property
    def orphan_bytes(self) -> int:
        return sum(orphan.blob.size for orphan in self.orphans)


class Janitor:
    def __init__(
        self,
        registry: Registry,
        blobs: BlobStore,
        jobs: JobTracker,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        resumable_expiry_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        """``resumable_expiry_seconds``: a resumable upload is kept this long after its last append."""
        self.registry = registry
        self.blobs = blobs
        self.jobs = jobs
        self.grace_seconds = grace_seconds
        self.resumable_expiry_seconds = resumable_expiry_seconds
        self._freeing: queue.Queue[StoredAsset] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        registry.on_replaced(self.free_replaced)

    # -- files leave with their asset --------------------------------------------------

    def free_replaced(self, old: StoredAsset) -> None:
        """Queue the replaced version: its blobs that no version points at are deleted soon."""
        if not self.own_keys(old.document):
            return
        self._freeing.put(old)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._free_queued, name="blob-janitor", daemon=True)
                self._thread.start()

    def drain(self) -> None:
        """Wait until every queued version's blobs are freed (tests, and a worker stopping)."""
        self._freeing.join()

    def _free_queued(self) -> None:
        while True:
            old = self._freeing.get()
            try:
                self._free(old)
            except Exception:  # the sweep takes what this leaves
                log.exception("could not free the blobs of %s; the next sweep will", old.asset_id)
            finally:
                self._freeing.task_done()

    def _free(self, old: StoredAsset) -> None:
        keys = self.own_keys(old.document)
        with contextlib.suppress(AssetNotFound):  # deleted: every blob of it goes
            keys -= self.own_keys(self.registry.get(old.asset_id).document)
        keys -= self._used_elsewhere(old.asset_id, old.document, keys)
        freed = self._delete(sorted(keys))
        if freed:
            history.note(self.registry.history, "blobs.freed", asset_id=old.asset_id, revision_before=old.revision,
                         detail={"by": "lifecycle", "blobs": freed})  # fmt: skip

    def _used_elsewhere(self, asset_id: str, document: dict[str, Any], keys: set[str]) -> set[str]:
        """Those of ``keys`` another asset points at: registries from before ``foreign_blob``
        may have let two assets share a blob, and one leaving must not take it from the other."""
        urls = sorted({str(f.get("asset_file_url")) for f in document.get("files") or []})
        used: set[str] = set()
        for start in range(0, len(urls), URLS_PER_QUERY):
            query = compile_filter({"files.asset_file_url": {"$in": urls[start : start + URLS_PER_QUERY]}})
            after: str | None = None
            while True:
                page = self.registry.store.find(query, PAGE, after)
                for other in page.documents:
                    if other.get("asset_id") != asset_id:
                        used |= self.own_keys(other) & keys
                if page.next_after is None:
                    break
                after = page.next_after
        return used

    def own_keys(self, document: dict[str, Any]) -> set[str]:
        """The registry's file blobs a version points at (never anything outside ``assets/``)."""
        keys = (self.blobs.key_for_url(str(f.get("asset_file_url", ""))) for f in document.get("files") or [])
        return {key for key in keys if key is not None and key.startswith(FILES_PREFIX)}

    # -- the sweep ---------------------------------------------------------------------

    def sweep(self, dry_run: bool = False, grace_seconds: float | None = None) -> SweepReport:
        """Find (and unless ``dry_run``, delete) the blobs nothing owns any more."""
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        cutoff = time.time() - grace
        report = SweepReport(dry_run=dry_run)
        files = _by_upload(self.blobs.listing(FILES_PREFIX), FILES_PREFIX)
        staged = _by_upload(self.blobs.listing(STAGING_PREFIX), STAGING_PREFIX)
        # Job states first, references after: a job that ends meanwhile registered its asset
        # before it ended, so the references read next include it.
        states: dict[str, str | None] = {}
        for upload_id in {*files, *staged}:
            self._state(upload_id, states)
        referenced, unmapped = self._referenced()
        if unmapped and not referenced and files:
            report.refused = (
                f"{unmapped} file URLs of stored assets name no blob of this store, and none does: the store may "
                "have moved (another data dir, bucket or prefix). Nothing was swept."
            )
            return report
        for upload_id, blobs in files.items():
            loose = [blob for blob in blobs if blob.key not in referenced and not _bucket_marker(blob.key)]
            if not loose:
                continue
            if max(blob.modified for blob in blobs) > cutoff or self._running(upload_id, states):
                report.spared += len(loose)  # an upload still writing, or one whose job runs
                continue
            report.orphans += [Orphan(blob, "no asset points at it") for blob in loose]
        for upload_id, blobs in staged.items():
            state = self._state(upload_id, states)
            newest = max(b.modified for b in blobs)
            resumable = any(b.key == resumable_key(upload_id) for b in blobs)
            if (
                state == "running"
                or (state is None and newest > cutoff)
                or (resumable and newest > time.time() - self.resumable_expiry_seconds)
            ):  # a job that runs, an upload still streaming in, a resumable upload not expired
                report.spared += len(blobs)
                continue
            reason = "its upload job has ended" if state == "ended" else "no upload job knows it"
            report.orphans += [Orphan(blob, reason) for blob in blobs]
        if not dry_run:
            report.deleted = self._delete([orphan.blob.key for orphan in report.orphans])
            if report.deleted:
                history.note(self.registry.history, "blobs.freed",
                             detail={"by": "gc", "blobs": report.deleted, "bytes": report.orphan_bytes})  # fmt: skip
        return report

    def _referenced(self) -> tuple[set[str], int]:
        """The file blobs every asset points at, and how many file URLs map to no key at all
        (other than web URLs, which are the owners' own)."""
        keys: set[str] = set()
        unmapped = 0
        everything = compile_filter({})
        after: str | None = None
        while True:
            page = self.registry.store.find(everything, PAGE, after)
            for document in page.documents:
                keys |= self.own_keys(document)
                for entry in document.get("files") or []:
                    url = str(entry.get("asset_file_url", ""))
                    if not url.startswith(("http://", "https://")) and self.blobs.key_for_url(url) is None:
                        unmapped += 1
            if page.next_after is None:
                return keys, unmapped
            after = page.next_after

    def _running(self, upload_id: str, states: dict[str, str | None]) -> bool:
        return self._state(upload_id, states) == "running"

    def _state(self, upload_id: str, states: dict[str, str | None]) -> str | None:
        """``running``, ``ended``, or None when no job of that id is known (any more)."""
        if upload_id not in states:
            try:
                states[upload_id] = "ended" if self.jobs.get(upload_id).finished else "running"
            except JobNotFound:
                states[upload_id] = None
        return states[upload_id]

    def _delete(self, keys: Iterable[str]) -> int:
        deleted = 0
        for key in keys:
            try:
                self.blobs.delete(key)
                deleted += 1
            except Exception:
                log.exception("could not delete blob %s; it is left for the next sweep", key)
        return deleted


def _bucket_marker(key: str) -> bool:
    """``assets/b.<bucket>/.bucket``: the blob that keeps a bucket's folder (``core.sources``)."""
    parts = key[len(FILES_PREFIX) :].split("/")
    return len(parts) == 2 and parts[0].startswith("b.") and parts[1] == ".bucket"


def _by_upload(blobs: Iterator[StoredBlob], prefix: str) -> dict[str, list[StoredBlob]]:
    """Blobs grouped by the upload that wrote them: ``assets/<id>/...``, ``staging/<id>.zip``."""
    groups: dict[str, list[StoredBlob]] = {}
    for blob in blobs:
        rest = blob.key[len(prefix) :]
        if prefix != FILES_PREFIX:
            upload_id = rest.split(".", 1)[0]
        else:
            folder, _slash, inner = rest.partition("/")
            if folder.startswith("b."):  # a bucket's folder: assets/b.<bucket>[~<step>]/<upload id or source>/...
                folder = inner.split("/", 1)[0]
            upload_id = folder.split("~", 1)[0]
        groups.setdefault(upload_id, []).append(blob)
    return groups
