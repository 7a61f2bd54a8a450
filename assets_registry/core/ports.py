"""The ports: what the registry needs from the world, as ``typing.Protocol`` classes.

Adapters implement them (``assets_registry.adapters``, or a third party's plugin); the core
use cases receive them as arguments and never know which backend they talk to. Each port
has one contract test suite (``assets_registry.testing``) that every adapter must pass.

All adapters raise the domain's errors (``core.errors``): ``AssetNotFound``,
``AssetExists``, ``RevisionMismatch``, ``BlobNotFound``, ``JobNotFound``, and
``BackendUnavailable`` when their server does not answer, never their client library's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

if TYPE_CHECKING:
    from assets_registry.core.errors import FieldError
    from assets_registry.core.filters import Filter
    from assets_registry.core.model import Asset

Document = dict[str, Any]
"""An asset's JSON document, as ``core.model.asset_to_document`` makes it."""


class StoredAsset:
    """A stored asset document and its revision (1 on insert, +1 on every update).

    A store that keeps documents as compact JSON (``msgspec.json.encode``'s) may hand over
    the text instead (``from_json``): it is decoded only when ``document`` is asked for, and
    a download of an asset of 10,000 files, which needs only the text, saves decoding and
    encoding 5 MB again (15-20 ms).
    """

    __slots__ = ("_document", "_id", "json", "revision")

    def __init__(self, document: Document, revision: int) -> None:
        self._document: Document | None = document
        self._id = str(document["asset_id"])
        self.revision = revision
        self.json: bytes | None = None

    @classmethod
    def from_json(cls, json: bytes, revision: int, asset_id: str) -> StoredAsset:
        stored = cls.__new__(cls)
        stored._document, stored._id, stored.revision, stored.json = None, asset_id, revision, json
        return stored

    @property
    def document(self) -> Document:
        if self._document is None:
            assert self.json is not None
            self._document = msgspec.json.decode(self.json)
        return self._document

    @property
    def asset_id(self) -> str:
        return self._id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredAsset):
            return NotImplemented
        return (self.document, self.revision) == (other.document, other.revision)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StoredAsset(asset_id={self._id!r}, revision={self.revision})"


@dataclass(frozen=True)
class Page:
    """One page of a list answer, in ascending ``asset_id`` order.

    ``next_after`` is the ``after`` value that fetches the next page, or None on the last page.
    """

    documents: list[Document]
    next_after: str | None = None


@runtime_checkable
class MetadataStore(Protocol):
    """Keeps asset documents, unique by ``asset_id``, and answers queries on them.

    Lists are ordered by ``asset_id`` (code point order) and paged by ``after``: an answer
    holds at most ``limit`` documents whose ids sort after ``after``. The five lookups give
    exactly the answer of ``find`` with ``core.lookups.lookup_filter`` (adapters serve them
    from indexes); the contract suite checks both agree.
    """

    def insert(self, document: Document) -> StoredAsset:
        """Store a new asset; raise ``AssetExists`` if its id is taken."""

    def get(self, asset_id: str) -> StoredAsset:
        """The stored asset; raise ``AssetNotFound``."""

    def update(self, asset_id: str, document: Document, expected_revision: int) -> StoredAsset:
        """Replace the document if its revision is still ``expected_revision``.

        Raise ``AssetNotFound``, or ``RevisionMismatch`` if someone else changed it first.
        """

    def delete(self, asset_id: str, expected_revision: int | None = None) -> None:
        """Remove the asset; raise ``AssetNotFound`` (or ``RevisionMismatch``)."""

    def find(self, flt: Filter, limit: int, after: str | None = None) -> Page:
        """The assets ``flt`` matches."""

    def find_by_type(self, asset_type: str, limit: int, after: str | None = None) -> Page:
        """Assets with a profile of this ``asset_type``."""

    def find_by_sub_type(self, sub_type: str, limit: int, after: str | None = None) -> Page:
        """Assets with a profile of this ``asset_sub_type``."""

    def find_by_tag(self, tag: str, limit: int, after: str | None = None) -> Page:
        """Assets with a profile carrying this tag."""

    def find_by_api_route(self, route: str, limit: int, after: str | None = None) -> Page:
        """Assets with an API on this route (with or without a leading ``/``)."""

    def check(self) -> None:
        """Return if the backend answers; raise ``BackendUnavailable`` otherwise."""

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""


@dataclass(frozen=True)
class BlobInfo:
    """What a stored blob is: where it lives and what it holds."""

    key: str
    url: str
    size: int
    sha256: str | None = None


@dataclass(frozen=True)
class StoredBlob:
    """A blob as a listing shows it: its key, size, and when it was last written (epoch seconds)."""

    key: str
    size: int
    modified: float


@runtime_checkable
class BlobStore(Protocol):
    """Keeps binary files under keys (``a/b/c``-style relative paths), as streams of chunks.

    Writes are atomic: a reader sees the old blob or the new one, never a part. No call
    holds a whole blob in memory.
    """

    def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
        """Store the chunks under ``key`` (replacing any blob there); return URL, size, sha256.

        ``transient`` marks working data that lives minutes (a staged upload): the store may
        skip flushing it to stable storage and computing its sha256 (then None).
        """

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream the blob (or ``length`` bytes of it from ``start``); raise ``BlobNotFound``."""

    def stat(self, key: str) -> BlobInfo:
        """URL and size of the blob (sha256 if the backend knows it); raise ``BlobNotFound``."""

    def missing(self, keys: Sequence[str]) -> list[str]:
        """Those of ``keys`` that name no blob, in the order given.

        Asked before a download of many files starts: stores answer it from listings (a
        folder, a thousand names, at a time) where they can, not with a request per key.
        """

    def read_many(self, items: Iterable[tuple[str, int]]) -> Iterator[bytes]:
        """Each blob of ``(key, size)`` whole, in order: at most ``size + 1`` bytes of it, so a
        blob that grew shows; ``BlobNotFound`` for one that is gone.

        For the small files of a download (``size`` is what was recorded, at most a MiB): a
        store can read them without a stream per blob, or several at once.
        """

    def delete(self, key: str) -> None:
        """Remove the blob; removing an absent blob is not an error (cleanup is idempotent)."""

    def listing(self, folder: str) -> Iterator[StoredBlob]:
        """Every blob under ``folder`` (``""`` or ``a/b/``), at any depth, in no set order.

        For the orphan sweep (``assets-registry gc``): it finds blobs no asset or job owns,
        and spares those written within its grace period (``modified``).
        """

    def key_for_url(self, url: str) -> str | None:
        """The key of a URL this store handed out, or None if the URL is not one of its own."""

    def check(self) -> None:
        """Return if the backend answers; raise ``BackendUnavailable`` otherwise."""

    def close(self) -> None:
        """Release connections."""


QUEUED = "queued"
PROCESSING = "processing"
SUCCESS = "success"
FAILED_PREFIX = "failed: "


def failed(reason: str) -> str:
    """The seed's status string of a failed upload: ``failed: <reason>``."""
    return f"{FAILED_PREFIX}{reason}"


@dataclass(frozen=True)
class UploadJob:
    """A ZIP upload being turned into an asset.

    ``status`` is one of the seed's strings: ``queued``, ``processing``, ``success``,
    ``failed: <reason>``. ``staged_key`` names the uploaded archive in the blob store.
    ``progress`` is free-form (bytes done, members done) for status answers.
    """

    upload_id: str
    status: str
    staged_key: str
    asset_id: str | None = None
    attempts: int = 0
    progress: dict[str, Any] | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status == SUCCESS or self.status.startswith(FAILED_PREFIX)


@runtime_checkable
class JobTracker(Protocol):
    """Records upload jobs and hands them to workers under leases.

    A worker that stops renewing its lease (it crashed, or its host did) loses the job:
    ``claim`` hands it to the next worker with ``attempts`` counted up. Deciding that a job
    has been tried often enough is the caller's business (``core.bundles`` cleans up what
    the attempts left and fails it), so no job is lost and none stays ``processing`` for good.
    """

    def submit(self, upload_id: str, staged_key: str) -> UploadJob:
        """Record a new job as ``queued``."""

    def get(self, upload_id: str) -> UploadJob:
        """The job's current state; raise ``JobNotFound``."""

    def claim(self, worker: str, lease_seconds: float) -> UploadJob | None:
        """Take the oldest queued job, or one whose lease ran out, as ``processing``.

        ``attempts`` counts the claims, this one included.
        """

    def renew(self, upload_id: str, worker: str, lease_seconds: float, progress: dict[str, Any] | None = None) -> bool:
        """Extend the lease and record progress; False if the worker no longer holds the job."""

    def finish(self, upload_id: str, worker: str, status: str, asset_id: str | None = None) -> bool:
        """Record the final status; False if the worker no longer holds the job."""

    def check(self) -> None:
        """Return if the backend answers; raise ``BackendUnavailable`` otherwise."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class CountsOpenJobs(Protocol):
    """A job tracker that can say how many jobs wait and run (``/metrics``); the built-in ones can.

    Apart from ``JobTracker`` so that a plugin's tracker without it still is one.
    """

    def open_jobs(self) -> dict[str, int]:
        """``{"queued": n, "processing": m}`` now."""


@runtime_checkable
class Validator(Protocol):
    """Checks an asset before it is stored (created, updated, or ingested from a bundle).

    ``name`` says which validator refused, in error messages. ``validate`` returns the
    problems found, each with the JSON path it concerns; an empty list accepts the asset.
    """

    name: str

    def validate(self, asset: Asset) -> list[FieldError]:
        """The problems found in ``asset``; empty if it may be stored."""


@runtime_checkable
class FileValidator(Protocol):
    """A validator that also reads file bytes: one with a ``validate_file`` method.

    A validator (from ``assets_registry_validators``) that has ``validate_file`` is asked it
    for every ingested file whose id matches its ``paths`` (RE2; ``""`` or none: every file),
    after mutation and before metadata. It returns the refusals' messages (empty: accepted);
    every refusal of every file is reported, as ``failed: validation_failed: <name>: <file>: <message>``.
    """

    name: str
    paths: str

    def validate_file(self, file: FileContent) -> list[str]:
        """Why this file may not be stored; empty if it may."""


@runtime_checkable
class FileContent(Protocol):
    """One stored file of an asset being ingested, read by ranges: never handed over whole."""

    path: str
    """The file's id in the asset (``weights/model.safetensors``)."""
    size: int

    def read(self, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start`` (fewer at the end of the file)."""

    def chunks(self) -> Iterator[bytes]:
        """The whole file, chunk by chunk, in one stream (for a mutator or a service that reads it all)."""


@runtime_checkable
class MetadataExtractor(Protocol):
    """Reads what it needs of a file (headers, by ranged reads) and describes it.

    ``paths`` is an RE2 pattern a file's id must match for ``extract`` to be asked (``""``:
    every file). ``extract`` returns a JSON object merged into that file's
    ``asset_file_metadata`` (later extractors win per key), or None when it has nothing.
    """

    name: str
    paths: str

    def extract(self, file: FileContent) -> dict[str, Any] | None:
        """What this extractor knows about the file, or None."""


@runtime_checkable
class Mutator(Protocol):
    """Remakes a file before the asset is validated and registered (a converter, a scrubber).

    ``paths`` is an RE2 pattern a file's id must match (``""``: every file). ``mutate``
    returns the replacement's bytes as chunks (streamed into the store, never held whole),
    or None to leave the file as it is.
    """

    name: str
    paths: str

    def mutate(self, file: FileContent) -> Iterable[bytes] | None:
        """The file's replacement, chunk by chunk, or None for no change."""


from assets_registry.core.catalog import CatalogKind, CatalogRecord, CatalogStore  # noqa: E402  (the catalog port)

__all__ = ["CatalogKind", "CatalogRecord", "CatalogStore"]
