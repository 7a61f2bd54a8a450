"""A ZIP upload's members stored while it streams in: each byte written once, not twice.

Without it an upload crosses the disk twice: the archive into staging, then (once the job
runs) every member out of it into its blob. ``EarlyUnpack`` reads the archive's local
entries with stream-unzip in a thread of its own while the upload arrives, and writes each
member to the blob the job would write, hashing it on the way. The bytes of a *stored*
(uncompressed) member are then the same in the archive and in the member's blob, so the
staged copy leaves them out: it keeps everything else (local headers, compressed members,
the central directory) and a list of ``Hole``s saying which blob holds each range it left
out. ``BlobFile`` puts the two back together, so the job reads the very archive that was
uploaded, whatever it decides to do with it.

Which bytes are a stored member's is learnt without parsing anything twice: stream-unzip
hands a stored member's data on in the very ``bytes`` objects it was given when a whole
input chunk is member data, so an input chunk that comes back as itself is a hole. Any other
chunk (headers, the edges of members, compressed data, everything after early unpacking
stopped) is staged as it is. Chunks are staged in order, each once the unpacking thread has
passed it, so the staged copy lags the upload by at most ``QUEUED_CHUNKS`` chunks.

It is only a head start, never a decision. The rules are checked by the job from the
central directory as before (``rules``), and the job takes an early blob only if the
stream held exactly the central directory's entries, in the same order, and the member has
the size and CRC-32 the directory records; otherwise it copies the member from the staged
archive as it always did. Early unpacking stops at the first thing it does not like: a name
the rules would refuse, an encrypted or unsupported entry, damaged data, more than the
limits allow, or output growing much faster than input (a zip bomb costs it at most
``1 MiB + 16 x`` the compressed bytes read). What it wrote stays until the job ends: some
of it may hold the staged archive's holes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import msgspec
from isal.isal_zlib import crc32
from stream_unzip import NO_ENCRYPTION, stream_unzip

from assets_registry.core.bundles.errors import BundleRejected
from assets_registry.core.bundles.keys import file_key
from assets_registry.core.bundles.rules import (
    ASSET_JSON,
    BundleLimits,
    check_member_name,
    is_junk,
    stored_name_problem,
)
from assets_registry.core.bundles.staged_archive import Hole
from assets_registry.core.ports import BlobInfo, BlobStore

log = logging.getLogger("assets_registry.bundles")

UNZIP_CHUNK = 1 << 20
"""stream-unzip's largest piece: at least any input chunk, so a whole chunk passes through whole."""
QUEUED_CHUNKS = 8
MIN_HOLE = 64 << 10
"""Smaller chunks are staged, not left out: a hole costs a ranged read when the archive is read."""
WRITER_THREAD_BYTES = 8 << 20
"""Members at least this large are written by a thread of their own (``_put_beside``)."""
WRITER_QUEUE = 4
EXPANSION_ALLOWANCE = 1 << 20
EXPANSION_FACTOR = 16
_END = b""
_DONE = None


@dataclass(frozen=True, slots=True)
class EarlyMember:
    name: str
    """The member's name as the archive spells it."""
    key: str
    url: str
    size: int
    crc32: int
    sha256: str | None

    def blob(self) -> BlobInfo:
        return BlobInfo(key=self.key, url=self.url, size=self.size, sha256=self.sha256)


@dataclass(frozen=True, slots=True)
class BrokenMember:
    """A member whose data early unpacking could not read to its end (its blob holds the part it read)."""

    name: str
    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class EarlyManifest:
    """What the stream held (every entry's name, in order), which members were stored, and the holes."""

    names: list[str]
    members: list[EarlyMember]
    holes: list[Hole] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    """Every blob early unpacking wrote, whole or not: the job deletes those it does not take."""
    broken: BrokenMember | None = None
    received: list[Hole] = field(default_factory=list)
    """Ranges of the archive kept in the blobs they were received into (a resumable upload's
    parts, ``resumable``): read from there, and deleted with the staged archive."""

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes) -> EarlyManifest:
        """Raise ``ValueError`` if ``data`` is not a whole manifest (a crash can tear it)."""
        try:
            return msgspec.json.decode(data, type=cls)
        except msgspec.DecodeError as exc:
            raise ValueError(str(exc)) from None

    def keys(self) -> list[str]:
        """Every blob written early (``members`` count too: manifests of earlier versions lack ``written``)."""
        return list(dict.fromkeys([*self.written, *(m.key for m in self.members)]))

    def unreadable(self) -> str | None:
        """Why the staged archive cannot be read whole, or None: a hole in a member that broke off."""
        broken = self.broken
        if broken is not None and any(h.key == broken.key for h in self.holes):
            return f"member {broken.name} could not be unpacked ({broken.reason})"
        return None


class _Stop(Exception):
    """Early unpacking gives up; the job will do all the work."""


class EarlyUnpack:
    """Pass the upload through ``stage`` and store what it yields; ``finish`` then says what was stored."""

    def __init__(self, blobs: BlobStore, upload_id: str, limits: BundleLimits, bucket: str | None = None) -> None:
        self.bucket = bucket
        self.blobs = blobs
        self.upload_id = upload_id
        self.limits = limits
        self._inbox: queue.Queue[bytes] = queue.Queue(QUEUED_CHUNKS)
        self._outbox: queue.SimpleQueue[bytes | Hole | None] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._names: list[str] = []
        self._paths: set[str] = set()
        self._members: list[EarlyMember] = []
        self._written: list[str] = []
        self._broken: BrokenMember | None = None
        self._fatal: BaseException | None = None
        self._holes: list[Hole] = []
        self._read = 0
        self._unpacked = 0
        self._ended = False
        # the input chunk stream-unzip is reading, where it starts, and the blob range it went to whole
        self._current: bytes | None = None
        self._current_offset = 0
        self._claim: tuple[str, int] | None = None
        self._member_left_holes = False
        self._thread = threading.Thread(target=self._run, name=f"early-unpack-{upload_id}", daemon=True)
        self._thread.start()

    # -- the uploading thread -----------------------------------------------------------

    def stage(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield what the staged copy must hold: ``chunks``, less the stored members' bytes."""
        try:
            for chunk in chunks:
                if chunk:
                    self._inbox.put(chunk)
                    yield from self._passed(wait=False)
        finally:
            self._inbox.put(_END)
        yield from self._passed(wait=True)

    def _passed(self, wait: bool) -> Iterator[bytes]:
        """The chunks the unpacking thread has passed, in order; holes are noted, not yielded.

        Bytes the staged copy left out that reached no blob fail the upload at once, not
        after the rest of it has been received.
        """
        while True:
            if self._fatal is not None:
                raise self._fatal
            try:
                item = self._outbox.get(block=wait)
            except queue.Empty:
                return
            if item is _DONE:
                if self._fatal is not None:
                    raise self._fatal
                return
            if isinstance(item, Hole):
                self._note(item)
            else:
                yield item

    def _note(self, hole: Hole) -> None:
        last = self._holes[-1] if self._holes else None
        if last and last.key == hole.key and last.end == hole.offset and last.blob_end == hole.blob_offset:
            self._holes[-1] = Hole(last.offset, last.length + hole.length, last.key, last.blob_offset)
        else:
            self._holes.append(hole)

    def finish(self) -> EarlyManifest:
        self._thread.join()
        return EarlyManifest(self._names, self._members, self._holes, self._written, self._broken)

    def abandon(self) -> None:
        """The upload failed: stop, and delete whatever was stored."""
        self._stopped.set()
        if self._thread.is_alive():
            self._inbox.put(_END)  # the thread drains the queue once stopped, so there is room
        self._thread.join()
        for key in self._written:
            try:
                self.blobs.delete(key)
            except Exception:
                log.exception("could not delete blob %s; it is left behind", key)
        self._written = []

    # -- the unpacking thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            self._unpack()
        except Exception as exc:  # whatever it is, the job will meet it and say it better
            log.debug("upload %s: early unpacking stopped: %s", self.upload_id, exc)
            self._stopped.set()
        finally:
            self._settle()
            self._drain()
            self._outbox.put(_DONE)

    def _unpack(self) -> None:
        entries = stream_unzip(self._input(), chunk_size=UNZIP_CHUNK, allowed_encryption_mechanisms=(NO_ENCRYPTION,))
        for raw_name, size, data in entries:
            name = raw_name.decode("utf-8")
            self._names.append(name)
            if len(self._names) > self.limits.max_members + 1:
                raise _Stop("too many members")
            try:
                check_member_name(name)
            except BundleRejected as exc:
                raise _Stop(exc.reason) from None
            if name.endswith("/") or is_junk(name) or name.rsplit("/", 1)[-1] == ASSET_JSON:
                for _ in self._bounded(data):  # folders, macOS extras and asset.json are the job's
                    pass
                continue
            problem = stored_name_problem(name)
            if problem:  # the job refuses the bundle with this reason; nothing is written for it
                raise _Stop(f"member {name} cannot be stored: {problem}")
            self._store(name, size, data)

    def _store(self, name: str, size: int | None, data: Iterable[bytes]) -> None:
        if not self._claim_path(name):
            raise _Stop(f"{name} clashes with another member's path")
        key = file_key(self.upload_id, name, self.bucket)
        crc = _Crc()
        self._written.append(key)
        put = _put_beside if size is not None and size >= WRITER_THREAD_BYTES else _put_here
        try:
            info = put(self.blobs, key, crc, self._member_data(name, key, data))
        except BaseException as exc:
            if self._member_left_holes:
                self._fatal = exc  # bytes of the upload are in no blob and not staged: the upload fails
            raise
        if self._broken is not None:
            raise _Stop(self._broken.reason)
        self._members.append(EarlyMember(name, key, info.url, info.size, crc.value, info.sha256))

    def _member_data(self, name: str, key: str, data: Iterable[bytes]) -> Iterator[bytes]:
        """The member's bytes, noting whole input chunks (holes); a broken stream ends it early."""
        self._member_left_holes = False
        position = 0
        try:
            for piece in self._bounded(data):
                if piece is self._current and self._claim is None and len(piece) >= MIN_HOLE:
                    self._claim = (key, position)
                    self._member_left_holes = True
                position += len(piece)
                yield piece
        except Exception as exc:  # the blob keeps what was read: it may back holes of the staged copy
            self._broken = BrokenMember(name, key, str(exc) or type(exc).__name__)

    def _claim_path(self, name: str) -> bool:
        """Refuse a member inside another member's path (``a`` and ``a/b``): no blob could hold both."""
        parts = name.split("/")
        folders = {"/".join(parts[:i]) + "/" for i in range(1, len(parts))}
        if name in self._paths or name + "/" in self._paths or any(f[:-1] in self._paths for f in folders):
            return False
        self._paths.add(name)
        self._paths.update(folders)
        return True

    def _input(self) -> Iterator[bytes]:
        while True:
            chunk = self._take()
            self._settle()
            if not chunk:
                return  # stream-unzip raises if an entry was cut short
            if self._stopped.is_set():
                self._outbox.put(chunk)
                raise _Stop("the upload stopped")
            self._current, self._current_offset = chunk, self._read
            self._read += len(chunk)
            yield chunk

    def _settle(self) -> None:
        """stream-unzip is done with the current chunk: stage it, or note it as a hole."""
        chunk, claim = self._current, self._claim
        if chunk is None:
            return
        self._current, self._claim = None, None
        if claim is None:
            self._outbox.put(chunk)
        else:
            self._outbox.put(Hole(self._current_offset, len(chunk), claim[0], claim[1]))

    def _bounded(self, data: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in data:
            self._unpacked += len(chunk)
            if self._unpacked > self.limits.max_unpacked_bytes:
                raise _Stop("more than the unpacked-size limit")
            if self._unpacked > EXPANSION_ALLOWANCE + EXPANSION_FACTOR * self._read:
                raise _Stop("output grows much faster than input")
            yield chunk

    def _take(self) -> bytes:
        chunk = self._inbox.get()
        self._ended = self._ended or not chunk
        return chunk

    def _drain(self) -> None:
        """Stage what the upload still hands over, so that it never waits on a full queue."""
        while not self._ended:
            chunk = self._take()
            if chunk:
                self._outbox.put(chunk)


def _put_here(blobs: BlobStore, key: str, crc: _Crc, pieces: Iterator[bytes]) -> BlobInfo:
    return blobs.put(key, crc.of(pieces))


def _put_beside(blobs: BlobStore, key: str, crc: _Crc, pieces: Iterator[bytes]) -> BlobInfo:
    """Put a large member from a thread of its own while this one goes on unzipping.

    Unzipping (stream-unzip's own CRC-32 check among it) and storing (the CRC-32 against the
    directory, the SHA-256, the write) each take about half of what the member costs; on two
    threads they overlap, as hashing and writing release the GIL. Small members are stored
    in line: a thread per member would cost more than it saves.
    """
    handoff: queue.Queue[bytes | None] = queue.Queue(WRITER_QUEUE)
    outcome: list[BlobInfo | BaseException] = []

    def write() -> None:
        try:
            outcome.append(blobs.put(key, crc.of(iter(handoff.get, None))))
        except BaseException as exc:
            outcome.append(exc)
            while handoff.get() is not None:  # let the unzipping side finish its member
                pass

    writer = threading.Thread(target=write, name=f"store-{key}", daemon=True)
    writer.start()
    try:
        for piece in pieces:
            if outcome:
                break  # the put failed: stop feeding it
            handoff.put(piece)
    finally:
        handoff.put(None)
        writer.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


class _Crc:
    """The CRC-32 the central directory is checked against, with ISA-L: 4x zlib's speed here.

    stream-unzip checks each member against its local header with zlib's CRC-32, but keeps
    the value to itself; this second pass is the price of comparing with the directory.
    """

    def __init__(self) -> None:
        self.value = 0

    def of(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.value = crc32(chunk, self.value)
            yield chunk
