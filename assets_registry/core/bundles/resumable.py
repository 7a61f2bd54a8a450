"""Resumable uploads (the tus 1.0 protocol's state): an archive received in pieces, over many requests.

An upload is created with its length; each append sends the bytes from the offset the server
has, and whatever arrives of an append that breaks off is kept, so the client resumes from
there (``offset``). Once every byte is in, the same bundle job as ``POST /zip/upload`` is
queued, under the upload's id: ``GET /zip/status/<id>`` follows it.

Everything lives in the blob store, so any API process or host that shares it can continue an
upload another began:

- ``staging/<id>.tus.json``: the upload (length, metadata, owner, bucket, services), written
  at creation and once more when it is complete;
- ``staging/<id>.parts/<offset>.<nonce>``: each append's bytes as a blob of its own, named by
  the offset it starts at (zero-padded, so names sort by offset).

The offset is what the parts cover without a gap from 0: there is no counter to keep in step
with them, and an append whose blob was written is counted even if its answer never reached
the client. An upload whose last byte is in but whose job a stopped process never queued is
queued by the next request that asks about it. Parts are not joined when the upload completes: the job reads the archive
through them (``staged_archive.Hole``s listed in the staged manifest), so no byte is copied
twice, on any store. The job deletes them (all of the folder) when it ends; an upload left unfinished expires
``expiry_seconds`` after its last append and the sweep (``janitor``) removes it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from assets_registry.core import access
from assets_registry.core.bucket_names import DEFAULT_BUCKET
from assets_registry.core.bundles.early_unpack import EarlyManifest
from assets_registry.core.bundles.errors import EmptyUpload, UploadTooLarge
from assets_registry.core.bundles.keys import part_key, parts_folder, resumable_key, staged_key
from assets_registry.core.bundles.staged_archive import Hole
from assets_registry.core.bundles.use_cases import Bundles
from assets_registry.core.errors import (
    BlobNotFound,
    Conflict,
    InvalidInput,
    JobNotFound,
    NotFound,
    RegistryError,
    TooLarge,
)

DEFAULT_EXPIRY_SECONDS = 24 * 3600.0
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
"""``Upload-Checksum`` algorithms: tus requires sha1; sha256 is the one to use."""
MAX_PARTS = 10_000
"""Appends one upload may take: each is a blob the job reads through, so a client sending
bytes one at a time is stopped long before the reading becomes a storm of tiny reads."""


class UploadGone(NotFound):
    """The upload expired or was terminated (HTTP 410)."""

    code = "upload_expired"


class TusVersionUnsupported(InvalidInput):
    """A request without ``Tus-Resumable: 1.0.0`` (tus: 412, with ``Tus-Version``)."""

    code = "tus_version_unsupported"


class ResumableNotFound(NotFound):
    code = "upload_not_found"


class OffsetMismatch(Conflict):
    code = "offset_mismatch"

    def __init__(self, given: int, offset: int) -> None:
        super().__init__(f"The upload has {offset} bytes, not {given}: send the rest from Upload-Offset {offset}.")
        self.offset = offset


class PastTheEnd(TooLarge):
    code = "past_upload_length"

    def __init__(self, length: int | None, room: int) -> None:
        super().__init__(
            f"The append is longer than the {room} bytes the upload still lacks"
            f"{f' (its Upload-Length is {length})' if length is not None else ''}; nothing of it was kept."
        )


class UploadComplete(Conflict):
    code = "upload_complete"


class ChecksumMismatch(InvalidInput):
    """The bytes of an append are not those the client's checksum describes (tus: 460); they were dropped."""

    code = "checksum_mismatch"


@dataclass(frozen=True)
class _Record:
    """What the upload's state blob holds: written at creation, and again once complete."""

    upload_id: str
    length: int
    created: float
    owner: str
    metadata: dict[str, str] = field(default_factory=dict)
    """``Upload-Metadata`` as sent: key to base64 value (``""`` for a key without one)."""
    bucket: str | None = None
    services: list[str] = field(default_factory=list)
    complete: bool = False
    """Rewritten true once the job is queued: the record, not the job tracker (whose jobs may
    expire first), says the upload is whole."""


@dataclass(frozen=True)
class ResumableUpload:
    """An upload as the server has it now."""

    upload_id: str
    length: int
    offset: int
    expires: float
    metadata: dict[str, str]
    complete: bool
    """Every byte is in and its bundle job was queued (its id is ``upload_id``)."""


@dataclass(frozen=True)
class _Part:
    key: str
    offset: int
    size: int
    modified: float


class ResumableUploads:
    def __init__(self, bundles: Bundles, expiry_seconds: float = DEFAULT_EXPIRY_SECONDS) -> None:
        self.bundles = bundles
        self.blobs = bundles.blobs
        self.expiry_seconds = expiry_seconds

    @property
    def max_length(self) -> int:
        return self.bundles.limits.max_upload_bytes

    def create(self, length: int, metadata: dict[str, str], bucket: str | None, services: list[str]) -> ResumableUpload:
        """A new upload of ``length`` bytes (the caller checked ``bucket`` is Ready)."""
        if length <= 0:
            raise EmptyUpload()
        if length > self.max_length:
            raise UploadTooLarge(self.max_length)
        self.bundles.ingest.catalog.check_names(services)
        principal = access.current()
        record = _Record(
            str(uuid.uuid4()), length, time.time(), principal.name if principal else "", metadata, bucket, services
        )
        self.blobs.put(resumable_key(record.upload_id), [msgspec.json.encode(record)])
        return self._upload(record, [], queued=False)

    def get(self, upload_id: str) -> ResumableUpload:
        """The upload's offset and length; ``ResumableNotFound``, or ``UploadGone`` once expired."""
        return self._current(upload_id)[1]

    def append(
        self, upload_id: str, offset: int, chunks: Iterable[bytes], length: int | None, checksum: str | None
    ) -> ResumableUpload:
        """Store what arrives of ``chunks`` (sent from ``offset``) and queue the job once all is in.

        ``length`` is the request's, if known: one that would pass the upload's end is refused
        before a byte is read. ``checksum`` is ``Upload-Checksum`` (``<algorithm> <base64>``):
        bytes that do not match it are dropped (``ChecksumMismatch``), including those of an
        append that broke off. Without one, an append that broke off keeps what arrived.
        """
        hasher, expected = _checksum(checksum)
        record = self._record(upload_id)
        parts = self._parts(upload_id)
        upload = self._upload(record, parts)
        if upload.complete:
            raise UploadComplete(f"The upload {upload_id} is complete; follow its job at /zip/status/{upload_id}.")
        if offset != upload.offset:
            raise OffsetMismatch(offset, upload.offset)
        room = record.length - offset
        if length is not None and length > room:
            raise PastTheEnd(record.length, room)
        if len(parts) >= MAX_PARTS:
            raise InvalidInput(f"The upload has {len(parts)} pieces, the most one may have; send larger chunks.")
        received = _Arrived(chunks, room, hasher)
        stream = iter(received)
        first = next(stream, b"")
        if first:  # nothing is stored for an append that brought nothing
            key = part_key(upload_id, offset, uuid.uuid4().hex)  # its own: a racing append never replaces it
            self.blobs.put(key, _prepend(first, stream))
            if hasher is not None and (received.cut or hasher.digest() != expected):
                self.blobs.delete(key)
                raise ChecksumMismatch(
                    "The bytes received do not match Upload-Checksum; they were dropped: send them again."
                )
            parts = sorted([*parts, _Part(key, offset, received.size, time.time())], key=_part_order)
        upload = self._upload(record, parts, queued=False)  # it was not before; a racing completion is one job
        if upload.offset == record.length:
            return self._complete(record, upload)
        return upload

    def terminate(self, upload_id: str) -> None:
        """Delete the upload and what it received (tus termination); not once its job is queued."""
        parts, upload = self._current(upload_id)
        if upload.complete:
            raise UploadComplete(f"The upload {upload_id} is complete and its job queued; it can no longer be deleted.")
        for part in parts:
            self.blobs.delete(part.key)
        self.blobs.delete(resumable_key(upload_id))

    # -- inside ---------------------------------------------------------------------------

    def _current(self, upload_id: str) -> tuple[list[_Part], ResumableUpload]:
        """The upload's parts and state; one whose last byte landed in a process that stopped
        before queueing its job is queued now."""
        record = self._record(upload_id)
        parts = self._parts(upload_id)
        upload = self._upload(record, parts)
        if upload.offset == record.length and not upload.complete:
            upload = self._complete(record, upload)
        return parts, upload

    def _record(self, upload_id: str) -> _Record:
        unknown = ResumableNotFound(f"There is no resumable upload {upload_id!r}; create one with POST /uploads/.")
        if not _canonical_uuid(upload_id):  # ids are made here: anything else names no upload (nor a key)
            raise unknown
        try:
            record = msgspec.json.decode(b"".join(self.blobs.read(resumable_key(upload_id))), type=_Record)
        except (BlobNotFound, msgspec.DecodeError):
            raise unknown from None
        principal = access.current()
        if principal is not None and principal.name != record.owner and not principal.allows("admin"):
            raise unknown
        access.require_bucket(record.bucket or DEFAULT_BUCKET)  # a token of that name may since be limited
        return record

    def _parts(self, upload_id: str) -> list[_Part]:
        folder = parts_folder(upload_id)
        parts = []
        for blob in self.blobs.listing(folder):
            start = blob.key[len(folder) :].partition(".")[0]
            if start.isdigit():
                parts.append(_Part(blob.key, int(start), blob.size, blob.modified))
        return sorted(parts, key=_part_order)

    def _upload(self, record: _Record, parts: list[_Part], queued: bool | None = None) -> ResumableUpload:
        """``queued``: whether its job is, when the caller knows (else the job tracker is asked)."""
        last = max([record.created, *(p.modified for p in parts)])
        expires = last + self.expiry_seconds
        complete = record.complete or (self._queued(record.upload_id) if queued is None else queued)
        if not complete and expires < time.time():
            raise UploadGone(f"The upload {record.upload_id} expired (nothing was sent for a while); start it again.")
        offset = record.length if complete else _covered(parts)[0]
        return ResumableUpload(record.upload_id, record.length, offset, expires, record.metadata, complete)

    def _queued(self, upload_id: str) -> bool:
        try:
            self.bundles.jobs.get(upload_id)
        except JobNotFound:
            return False
        return True

    def _complete(self, record: _Record, upload: ResumableUpload) -> ResumableUpload:
        """Every byte is in: the staged archive is the parts, and the bundle job is queued."""
        offset, holes = _covered(self._parts(record.upload_id))
        key = staged_key(record.upload_id, bucket=record.bucket)
        manifest = EarlyManifest(names=[], members=[], received=holes)
        with contextlib.suppress(Conflict):  # another process completed it at the same moment: one job
            self.bundles.queue(record.upload_id, key, offset, record.services, record.bucket, manifest)
        self.blobs.put(
            resumable_key(record.upload_id), [msgspec.json.encode(dataclasses.replace(record, complete=True))]
        )
        return ResumableUpload(record.upload_id, record.length, offset, upload.expires, record.metadata, True)


def _part_order(part: _Part) -> tuple[int, int]:
    return part.offset, -part.size  # the longest of one offset first


def _canonical_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _covered(parts: list[_Part]) -> tuple[int, list[Hole]]:
    """How far the parts reach from 0 without a gap, and the ranges of the archive they hold.

    Two appends from the same offset (a retry racing the original) are two blobs; the bytes of
    an offset are the same in both, so the longest is taken, and a later part that starts
    inside one already taken is read from where that one ends.
    """
    reached, holes = 0, []
    for part in parts:
        if part.offset > reached:
            break
        end = part.offset + part.size
        if end > reached:
            holes.append(Hole(reached, end - reached, part.key, reached - part.offset))
            reached = end
    return reached, holes


def _checksum(header: str | None) -> tuple[Any, bytes | None]:
    if header is None:
        return None, None
    name, _space, value = header.strip().partition(" ")
    algorithm = CHECKSUMS.get(name.lower())
    if algorithm is None:
        raise InvalidInput(f"Upload-Checksum uses {name!r}; this server knows {', '.join(CHECKSUMS)}.")
    try:
        expected = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("Upload-Checksum's value is not base64: send '<algorithm> <base64 digest>'.") from None
    return algorithm(), expected


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (a key may have no value)."""
    metadata: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _space, value = pair.strip().partition(" ")
        try:
            base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"Upload-Metadata: the value of {key!r} is not base64.") from None
        if not key or key in metadata:
            raise InvalidInput("Upload-Metadata: every key must be given once, and not be empty.")
        metadata[key] = value.strip()
    return metadata


def metadata_text(metadata: dict[str, str], key: str) -> str | None:
    """A metadata value as text (None if absent or not UTF-8)."""
    try:
        return base64.b64decode(metadata[key]).decode() if key in metadata else None
    except UnicodeDecodeError:
        return None


class _Arrived:
    """An append's bytes, counted and hashed, ending quietly where the client broke off."""

    def __init__(self, chunks: Iterable[bytes], room: int, hasher: Any) -> None:
        self._chunks = iter(chunks)
        self.room = room
        self.hasher = hasher
        self.size = 0
        self.cut = False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                return
            except (OSError, RegistryError, ValueError):  # the connection broke: keep what came
                self.cut = True
                return
            if not chunk:
                continue
            self.size += len(chunk)
            if self.size > self.room:
                raise PastTheEnd(None, self.room)
            if self.hasher is not None:
                self.hasher.update(chunk)
            yield chunk


def _prepend(first: bytes, rest: Iterable[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
