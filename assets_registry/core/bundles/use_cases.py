"""Use cases of bundles: stage an upload, run upload jobs, report their status, export an asset.

``stage`` streams the uploaded archive into the blob store (``keys.staged_key``) and queues a
job; any worker that can reach the same blob store and job tracker can run it
(``run_next``), so threads of the server and separate worker processes are alike.

A job ends ``success`` or ``failed: <reason>``, where the reason is a sentence the uploader
can act on. After a failure, every blob the upload wrote is deleted; after any ending the
staged archive is deleted (unless the worker dies in the instant between recording the
ending and deleting it: a stray archive is the lesser harm than a finished job re-run). A
worker that dies mid-job leaves it to the next claim, which re-runs it from the start to
the same end state; after ``max_attempts`` claims the job is failed and cleaned up instead
of being tried forever.

Large work leaves freed memory in the C heap; the use cases hand it back (``release_memory``,
the app's ``malloc_trim``) after each upload staged, each job and each download sent: the one
place that does it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import msgspec

from assets_registry.core import access, history
from assets_registry.core.bucket_names import DEFAULT_BUCKET
from assets_registry.core.bundles.attempts import Attempt
from assets_registry.core.bundles.describe import Describer
from assets_registry.core.bundles.early_unpack import EarlyManifest, EarlyUnpack
from assets_registry.core.bundles.errors import BundleRejected, EmptyUpload, LeaseLost, UploadTooLarge
from assets_registry.core.bundles.export import BundleDownload, export_bundle, forget_frames
from assets_registry.core.bundles.frames import worth_keeping_at_upload
from assets_registry.core.bundles.ingest import BundleIngest
from assets_registry.core.bundles.keys import (
    behalf_key,
    bucket_of,
    manifest_key,
    parts_folder,
    services_key,
    staged_key,
)
from assets_registry.core.bundles.mutate import Reshaper
from assets_registry.core.bundles.rules import BundleLimits
from assets_registry.core.bundles.steps import Checker, Service
from assets_registry.core.errors import BackendUnavailable, BlobNotFound, JobNotFound
from assets_registry.core.ports import SUCCESS, BlobStore, JobTracker, StoredAsset, UploadJob, failed
from assets_registry.core.registry import Registry

log = logging.getLogger("assets_registry.bundles")

FORM_ALLOWANCE = 1 << 20
"""What a request may carry beside the archive (multipart headers, other fields)."""


@dataclass(frozen=True)
class JobSettings:
    """How workers hold jobs: a lease renewed while bytes flow, and how often a job is retried."""

    lease_seconds: float = 60.0
    max_attempts: int = 3


class Bundles:
    def __init__(
        self,
        registry: Registry,
        blobs: BlobStore,
        jobs: JobTracker,
        limits: BundleLimits | None = None,
        job_settings: JobSettings | None = None,
        early_unpack: bool = True,
        release_memory: Callable[[], None] = lambda: None,
        describers: Sequence[Describer] = (),
        reshapers: Sequence[Reshaper] = (),
        checkers: Sequence[Checker] = (),
        services: Sequence[Service] = (),
    ) -> None:
        """``describers``, ``reshapers`` and ``checkers`` are the plugins' metadata extractors,
        mutators and file validators, run on every ingest; ``services`` the configured webhook
        services (``steps``)."""
        self.registry = registry
        self.blobs = blobs
        self.jobs = jobs
        self.limits = limits or BundleLimits()
        self.job_settings = job_settings or JobSettings()
        self.early_unpack = early_unpack
        self.release_memory = release_memory
        """Hands freed memory back to the system (the app's ``malloc_trim``)."""
        self.ingest = BundleIngest(registry, blobs, self.limits, describers, reshapers, checkers, services)
        registry.on_replaced(self._forget_frames)

    # -- the upload side ----------------------------------------------------------------

    def stage(
        self,
        chunks: Iterable[bytes],
        request_bytes: int | None = None,
        services: Sequence[str] = (),
        bucket: str | None = None,
    ) -> UploadJob:
        """Store an uploaded archive and queue its job; ``UploadTooLarge``/``EmptyUpload`` otherwise.

        ``request_bytes`` is the length of the request that carries it, if known: one past
        the limit is refused before a byte is read. ``services`` names the webhook services
        to run beside the ``always`` ones (``UnknownService`` before a byte is read);
        ``bucket`` the named bucket its files go to (the caller checked it is Ready).
        """
        self.ingest.catalog.check_names(services)
        try:
            return self._stage(chunks, request_bytes, list(dict.fromkeys(services)), bucket)
        finally:
            self.release_memory()  # once the staging's own objects are gone

    def _stage(
        self, chunks: Iterable[bytes], request_bytes: int | None, services: list[str], bucket: str | None
    ) -> UploadJob:
        limit = self.limits.max_upload_bytes
        if request_bytes is not None and request_bytes > limit + FORM_ALLOWANCE:
            raise UploadTooLarge(limit)
        upload_id = str(uuid.uuid4())
        key = staged_key(upload_id, bucket=bucket)
        early = EarlyUnpack(self.blobs, upload_id, self.limits, bucket) if self.early_unpack else None
        received = _Received(chunks, limit)
        try:
            # Staged archives are working data: deleted once the job ends, never served.
            # Skipping fsync and hashing for them writes each byte to disk once, not twice; if
            # the host loses power before the job runs, the job fails as unreadable.
            self.blobs.put(key, early.stage(received) if early else received, transient=True)
            manifest = early.finish() if early else None
            if received.size == 0:
                raise EmptyUpload()
            return self.queue(upload_id, key, received.size, services, bucket, manifest)
        except BaseException:
            if early:
                early.abandon()
            self._delete(_staged_blobs(key))
            raise

    def queue(
        self, upload_id: str, key: str, size: int, services: list[str], bucket: str | None,
        manifest: EarlyManifest | None,
    ) -> UploadJob:  # fmt: skip
        """Queue the job of an archive staged under ``key`` (``size`` bytes), with what lies beside it:
        the manifest of what was stored early or received elsewhere, the services, the uploader.
        ``Conflict`` if a job of that id exists (a resumable upload completed twice at once)."""
        if manifest is not None:
            self.blobs.put(manifest_key(key), [manifest.to_json()], transient=True)
        if manifest is not None and manifest.received:
            self.blobs.put(key, [], transient=True)  # the bytes are in the parts; the archive is their holes
        if services:
            self.blobs.put(services_key(key), [msgspec.json.encode(services)], transient=True)
        if self.registry.history is not None:
            self.blobs.put(behalf_key(key), [msgspec.json.encode(history.behalf().to_document())], transient=True)
        job = self.jobs.submit(upload_id, key)
        history.note(
            self.registry.history, "upload.accepted", bucket=bucket or DEFAULT_BUCKET,
            detail={"upload_id": upload_id, "bytes": size, "services": services},
        )  # fmt: skip
        return job

    def status(self, upload_id: str) -> UploadJob:
        """The job; a bucket-limited token sees only the uploads into its buckets (``JobNotFound``)."""
        job = self.jobs.get(upload_id)
        if not access.sees(bucket_of(job.staged_key) or DEFAULT_BUCKET):
            raise JobNotFound(upload_id)
        return job

    # -- the worker side ----------------------------------------------------------------

    def run_next(self, worker: str) -> UploadJob | None:
        """Claim one job and run it to its end; None if no job was waiting."""
        job = self.jobs.claim(worker, self.job_settings.lease_seconds)
        if job is not None:
            try:
                self.process(job, worker)
            finally:
                self.release_memory()
        return job

    def process(self, job: UploadJob, worker: str) -> None:
        """Run the job, its changes recorded as made by whoever uploaded the bundle."""
        with history.on_behalf_of(self._uploader(job.staged_key)):
            self._process(job, worker)

    def _uploader(self, staged: str) -> history.Behalf | None:
        try:
            return msgspec.json.decode(b"".join(self.blobs.read(behalf_key(staged))), type=history.Behalf)
        except (BlobNotFound, msgspec.DecodeError):
            return None

    def _process(self, job: UploadJob, worker: str) -> None:
        attempt = Attempt.of_job(job, worker, self.jobs, self.job_settings.lease_seconds)
        try:
            if job.attempts > self.job_settings.max_attempts:
                status, asset_id = self._give_up(attempt), attempt.asset_id
            else:
                asset_id = self.ingest.run(attempt)
                status = SUCCESS
                self._keep_frames(asset_id, attempt)
        except LeaseLost:
            log.warning("upload %s: another worker took the job over; leaving it", job.upload_id)
            return
        except BackendUnavailable as exc:
            log.warning("upload %s: %s; the job will be retried when its lease runs out", job.upload_id, exc.message)
            return
        except BundleRejected as exc:
            status, asset_id = failed(exc.reason), attempt.asset_id
            self._delete(attempt.member_keys())
        except Exception:
            log.exception("upload %s failed unexpectedly", job.upload_id)
            status, asset_id = failed("the server failed while processing the upload; it has been logged"), None
            self._delete(attempt.member_keys())
        # The ending is recorded before the staged archive goes: a worker dying in between
        # leaves a finished job and a stray archive, never a job re-run without its archive.
        # A worker that lost the job leaves the archive to the one that holds it now.
        if self.jobs.finish(job.upload_id, worker, status, asset_id):
            history.note(self.registry.history, "upload.ended", asset_id=asset_id,
                         bucket=bucket_of(job.staged_key) or DEFAULT_BUCKET,
                         detail={"upload_id": job.upload_id, "status": status})  # fmt: skip
            self._delete([*_staged_blobs(job.staged_key), *self._received(job.upload_id, attempt)])
        else:
            log.warning("upload %s: the job was taken over before it could be finished", job.upload_id)

    def _received(self, upload_id: str, attempt: Attempt) -> list[str]:
        """Every piece a resumable upload received, those the archive did not need too."""
        if not attempt.received:
            return []
        return [blob.key for blob in self.blobs.listing(parts_folder(upload_id))]

    def _keep_frames(self, asset_id: str, attempt: Attempt) -> None:
        """An asset of many small files: build its archive once now, keeping the frames, so that
        its first download is spliced too. Only a lost lease stops the job here: the asset is
        registered, and a download builds the frames just as well. Memory freed by the ingest
        is handed back first, so that the two do not peak together."""
        try:
            self.release_memory()
            download = export_bundle(self.registry.get(asset_id), self.blobs)
            if download.keeps_frames and worth_keeping_at_upload(download.members, download.size):
                for _chunk in download.chunks():
                    attempt.heartbeat()
        except LeaseLost:
            raise
        except Exception:
            log.warning("upload %s: the ZIP frames of %s were not kept", attempt.upload_id, asset_id, exc_info=True)

    def _give_up(self, attempt: Attempt) -> str:
        """The job's workers kept dying: keep an asset an attempt registered, else clean up."""
        if self.ingest.salvage(attempt):
            return SUCCESS
        self._delete(attempt.member_keys())
        return failed(
            f"the upload was interrupted {attempt.number - 1} times while being processed "
            "(its worker stopped); upload the bundle again"
        )

    def _delete(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self.blobs.delete(key)
            except Exception:
                log.exception("could not delete blob %s; it is left behind", key)

    # -- the download side --------------------------------------------------------------

    def export(self, asset_id: str) -> BundleDownload:
        """The asset as a ZIP archive, described; ``send`` streams it."""
        return export_bundle(self.registry.get(asset_id), self.blobs)

    def send(self, download: BundleDownload) -> Iterator[bytes]:
        """The archive's bytes; once sent (or abandoned), its members' memory goes back."""
        chunks = download.chunks()
        del download  # the stream alone holds the asset's document and members now
        try:
            yield from chunks
        finally:
            del chunks
            self.release_memory()

    def _forget_frames(self, old: StoredAsset) -> None:
        """A version of an asset was updated or deleted: its download's frames can go."""
        try:
            forget_frames(old, self.blobs)
        except Exception:
            log.warning("the ZIP frames of %s could not be deleted; they are left behind", old.asset_id, exc_info=True)


def _staged_blobs(key: str) -> list[str]:
    """The staged archive and what lies beside it until its job ends."""
    return [key, manifest_key(key), services_key(key), behalf_key(key)]


class _Received:
    """The uploaded bytes, counted, and refused past the size limit."""

    def __init__(self, chunks: Iterable[bytes], limit: int) -> None:
        self.chunks = chunks
        self.limit = limit
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.size += len(chunk)
            if self.size > self.limit:
                raise UploadTooLarge(self.limit)
            yield chunk
