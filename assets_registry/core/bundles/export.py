"""An asset as a ZIP stream built on the fly: ``asset.json`` plus every file of ``files[]``.

Members are stored uncompressed with the size and CRC-32 recorded at ingest (stream-zip's
``NO_COMPRESSION_64``), so the archive's exact length is known before the first byte:
with ZIP64 headers of fixed width, it is the length of the same archive with empty
members plus the members' sizes. Each member's bytes are checked against the recorded
size and CRC-32 as they stream; a blob that changed or vanished stops the stream, and the
client sees a transfer shorter than its ``Content-Length`` instead of an archive that
looks whole.

An archive of few members is built by stream-zip each time; small members go in its
buffered ``NO_COMPRESSION_64``, which writes the very same headers as the streamed form
(told the size and CRC-32 in advance, that form defines a Python class per member: 44
against 16 us a member), with our check before stream-zip writes anything of the member.
An archive of many members is built by stream-zip once and its frames kept
(``frames``); later downloads splice them between the files' bytes.
"""

from __future__ import annotations

import functools
import hashlib
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import msgspec
from isal.isal_zlib import crc32
from stream_zip import (
    NO_COMPRESSION_64,
    CRC32IntegrityError,
    MemberFile,
    UncompressedSizeIntegrityError,
    stream_zip,
)

from assets_registry.core.bundles.errors import FramesDamaged, IncompleteAsset, MemberChanged
from assets_registry.core.bundles.frames import (
    MIN_MEMBERS,
    Capture,
    may_have_frames,
    read_frames,
    replay,
    worth_frames,
)
from assets_registry.core.bundles.keys import frames_key
from assets_registry.core.bundles.rules import ASSET_JSON
from assets_registry.core.errors import BlobNotFound
from assets_registry.core.ports import BlobStore, StoredAsset

ZIP_EPOCH = datetime(1980, 1, 1)
OUTPUT_CHUNK = 1 << 20
BUFFERED_MEMBER_BYTES = 1 << 20
_FILE_MODE = stat.S_IFREG | 0o644


@dataclass(frozen=True)
class ExportMember:
    name: str
    size: int
    crc32: int
    modified: datetime
    chunks: Callable[[], Iterable[bytes]]
    key: str | None = None
    """The file's blob (None for ``asset.json``): small ones are read with ``read_many``."""


@dataclass(frozen=True)
class BundleDownload:
    """A ZIP archive of one asset, ready to stream; nothing is read until ``chunks()``."""

    asset_id: str
    revision: int
    size: int
    _make: Callable[[], Iterator[bytes]]
    members: int = 0
    digest: str = ""
    """SHA-256 of its ``asset.json``, which fixes every byte of the archive (an ETag)."""
    keeps_frames: bool = False
    """Sending it whole stores its frames (``frames``), for the downloads after it."""

    @property
    def filename(self) -> str:
        return f"{self.asset_id}.zip"

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self._make()
        except (CRC32IntegrityError, UncompressedSizeIntegrityError, MemberChanged) as exc:
            raise IncompleteAsset(
                self.asset_id, "a file's bytes in the blob store no longer match the size or CRC-32 recorded at ingest"
            ) from exc
        except BlobNotFound as exc:
            raise IncompleteAsset(self.asset_id, "a file vanished from the blob store while it was sent") from exc
        except FramesDamaged as exc:
            problem = "its kept ZIP frames are damaged; the next download rebuilds them"
            raise IncompleteAsset(self.asset_id, problem) from exc


def export_bundle(stored: StoredAsset, blobs: BlobStore) -> BundleDownload:
    """Check that every file is in the blob store, and describe the archive; raise ``IncompleteAsset``.

    The files are looked up all at once (``BlobStore.missing``: a listing per folder, not a
    request per file); their sizes are those recorded at ingest, and the stream checks them.
    An asset of many files is sent from its kept frames (``frames``) if it has them,
    and its frames are kept as it is sent if not.
    """
    asset_id = stored.asset_id
    manifest = manifest_of(stored)
    digest = hashlib.sha256(manifest).hexdigest()
    key = frames_key(digest) if _may_have_frames(stored, manifest) else None
    frames = read_frames(blobs, key) if key else None
    document = stored.document if frames is None else {}
    files = document.get("files", [])
    if frames is not None:
        if gone := blobs.missing(frames.keys):
            name = _file_of(stored.document.get("files", []), gone[0], blobs)
            raise IncompleteAsset(asset_id, f"its file {name} is missing from the blob store")
        size = frames.archive_size(manifest)
        chunks = partial(replay, frames, manifest, blobs)
        return BundleDownload(asset_id, stored.revision, size, chunks, len(frames.keys) + 1, digest)
    entries = [(entry, _key(asset_id, entry, blobs)) for entry in files]
    missing = set(blobs.missing([key for _entry, key in entries]))
    members = [ExportMember(ASSET_JSON, len(manifest), crc32(manifest), ZIP_EPOCH, partial(iter, [manifest]))]
    for entry, blob_key in entries:
        if blob_key in missing:
            raise IncompleteAsset(asset_id, f"its file {entry['asset_file_id']} is missing from the blob store")
        members.append(_member(entry, blob_key, blobs))
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise IncompleteAsset(asset_id, f"a file is named {ASSET_JSON}, which the archive keeps for the metadata")
    size = _framing(names) + sum(m.size for m in members)
    if key is None or not worth_frames(len(members), size):
        return BundleDownload(asset_id, stored.revision, size, partial(_zipped, members, blobs), len(members), digest)
    keys = [blob_key for _entry, blob_key in entries]
    chunks = partial(_zipped_and_kept, members, keys, blobs, key)
    return BundleDownload(asset_id, stored.revision, size, chunks, len(members), digest, keeps_frames=True)


def manifest_of(stored: StoredAsset) -> bytes:
    """The archive's ``asset.json``: the stored document, indented for people to read (from
    the store's own JSON text when it has one: the same bytes, without decoding it)."""
    return msgspec.json.format(stored.json or msgspec.json.encode(stored.document), indent=2) + b"\n"


def _may_have_frames(stored: StoredAsset, manifest: bytes) -> bool:
    """Could the archive have frames kept? Told from the document when it is decoded, else
    from the text's length, so as not to decode it: 64 files take more than 4 KB of JSON."""
    if stored.json is not None:
        return len(manifest) >= MIN_MEMBERS * 64
    return may_have_frames(len(stored.document.get("files", [])) + 1)


def forget_frames(stored: StoredAsset, blobs: BlobStore) -> None:
    """Delete the frames kept for this version of an asset, if it could have any."""
    manifest = manifest_of(stored)
    if _may_have_frames(stored, manifest):
        blobs.delete(frames_key(hashlib.sha256(manifest).hexdigest()))


def _zipped(members: list[ExportMember], blobs: BlobStore) -> Iterator[bytes]:
    return _coalesced(stream_zip(_entries(members, blobs), chunk_size=OUTPUT_CHUNK))


def _zipped_and_kept(members: list[ExportMember], keys: list[str], blobs: BlobStore, key: str) -> Iterator[bytes]:
    """The archive by stream-zip, as ``_zipped``; its frames are kept aside and stored once it is whole."""
    starts, position = [], 0
    for m in members:
        position += _local_header_length(len(m.name.encode()))
        starts.append(position)
        position += m.size
    capture = Capture(starts, [m.size for m in members], [m.crc32 for m in members])

    def seen(chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:  # as stream-zip hands them out, before they are gathered for sending
            capture.seen(chunk)
            yield chunk

    try:
        yield from _coalesced(seen(stream_zip(_entries(members, blobs), chunk_size=OUTPUT_CHUNK)))
    except BaseException:
        capture.discard()
        raise
    capture.save(blobs, key, keys)


@functools.cache
def _local_header_length(name_length: int) -> int:
    """Bytes before a member's data, for a name of this many bytes: measured on an empty
    member, by when stream-zip asks for its (streamed) bytes: only after all before them."""
    position, asked = 0, []

    def data() -> Iterator[bytes]:
        asked.append(position)
        yield from ()

    member = ("n" * name_length, ZIP_EPOCH, _FILE_MODE, NO_COMPRESSION_64(0, 0), data())
    for chunk in stream_zip([member], chunk_size=OUTPUT_CHUNK):
        position += len(chunk)
    return asked[0]


def _coalesced(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Chunks of about ``OUTPUT_CHUNK``: stream-zip hands out each member's headers on their
    own, and a write to the socket per small file costs more than the file's read."""
    pending = bytearray()
    for chunk in chunks:
        if not pending and len(chunk) >= OUTPUT_CHUNK:
            yield chunk
            continue
        pending += chunk
        if len(pending) >= OUTPUT_CHUNK:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


def _file_of(files: list[dict[str, object]], key: str, blobs: BlobStore) -> object:
    """The ``asset_file_id`` of the file stored under ``key`` (for a message)."""
    return next((f["asset_file_id"] for f in files if blobs.key_for_url(str(f["asset_file_url"])) == key), key)


def _key(asset_id: str, entry: dict[str, object], blobs: BlobStore) -> str:
    url = str(entry["asset_file_url"])
    key = blobs.key_for_url(url)
    if key is None:
        raise IncompleteAsset(asset_id, f"its file {entry['asset_file_id']} is stored outside this registry ({url})")
    return key


def _member(entry: dict[str, object], key: str, blobs: BlobStore) -> ExportMember:
    """A file as a member: size and CRC-32 as recorded at ingest, or read once (a file of ``POST /assets``)."""
    metadata = entry.get("asset_file_metadata")
    facts = metadata if isinstance(metadata, dict) else {}
    size, crc = facts.get("size"), facts.get("crc32")
    if not _is_int(size):
        size = blobs.stat(key).size
    if not _is_int(crc):
        crc = _crc_of(blobs, key)
    assert isinstance(size, int) and isinstance(crc, int)
    modified = _parse_modified(facts.get("modified"))
    return ExportMember(str(entry["asset_file_id"]), size, crc, modified, partial(blobs.read, key), key)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _framing(names: list[str]) -> int:
    """Bytes of the archive that are not member data: headers, central directory, end records.

    ``NO_COMPRESSION_64`` writes every size and offset in fixed-width ZIP64 fields, so a
    member's framing depends only on its name's length, and the archive's is the first
    member's archive plus each further member's share. Both are measured with stream-zip
    on empty members (once per name length), never written out by hand.
    """
    encoded = [len(name.encode()) for name in names]
    return _dry_run_length((encoded[0],)) + sum(_member_framing(n) for n in encoded[1:])


@functools.cache
def _member_framing(name_length: int) -> int:
    return _dry_run_length((name_length, name_length)) - _dry_run_length((name_length,))


@functools.cache
def _dry_run_length(name_lengths: tuple[int, ...]) -> int:
    empty = [ExportMember("n" * n, 0, 0, ZIP_EPOCH, partial(iter, [])) for n in name_lengths]
    return sum(len(chunk) for chunk in stream_zip(_entries(empty), chunk_size=OUTPUT_CHUNK))


def _crc_of(blobs: BlobStore, key: str) -> int:
    crc = 0
    for chunk in blobs.read(key):
        crc = crc32(chunk, crc)
    return crc


def _parse_modified(value: object) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return ZIP_EPOCH
        if 1980 <= parsed.year <= 2037:
            return parsed.replace(tzinfo=None)
    return ZIP_EPOCH


def _entries(members: list[ExportMember], blobs: BlobStore | None = None) -> Iterator[MemberFile]:
    """stream-zip's members: small files read whole, in one ``read_many`` pass; large ones streamed."""
    small = (
        blobs.read_many((m.key, m.size) for m in members if m.key is not None and m.size <= BUFFERED_MEMBER_BYTES)
        if blobs is not None
        else iter(())
    )
    for m in members:
        if m.size > BUFFERED_MEMBER_BYTES:
            yield m.name, m.modified, _FILE_MODE, NO_COMPRESSION_64(m.size, m.crc32), _lazy(m.chunks)
        elif m.key is not None and blobs is not None:
            yield m.name, m.modified, _FILE_MODE, NO_COMPRESSION_64, _whole(m, small)
        else:
            yield m.name, m.modified, _FILE_MODE, NO_COMPRESSION_64, _checked(m.chunks(), m)


def _whole(member: ExportMember, small: Iterator[bytes]) -> Iterator[bytes]:
    """A small file's bytes, read when stream-zip reaches it."""
    yield from _checked([next(small)], member)


def _checked(chunks: Iterable[bytes], member: ExportMember) -> Iterator[bytes]:
    """The member's bytes; raise at their end if they are not those recorded (for a buffered
    member: before stream-zip writes any of it)."""
    size = crc = 0
    for chunk in chunks:
        size += len(chunk)
        if size > member.size:
            raise MemberChanged(member.name)
        crc = crc32(chunk, crc)
        yield chunk
    if (size, crc) != (member.size, member.crc32):
        raise MemberChanged(member.name)


def _lazy(open_chunks: Callable[[], Iterable[bytes]]) -> Iterator[bytes]:
    """Open the blob only when stream-zip reaches the member (one open blob at a time)."""
    yield from open_chunks()
