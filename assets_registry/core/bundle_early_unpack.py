"""Members stored while the upload still streams in, so the job only has to check them.

Without it an upload crosses the disk twice in a row: the archive into staging, then (once
the job runs) every member out of it into its blob. ``EarlyUnpack`` follows the same bytes
as they are staged, reads the archive's local entries with stream-unzip in a thread of its
own, and writes each member to the blob the job would write, hashing it on the way; both
copies then proceed at once.

It is only a head start, never a decision. The rules are checked by the job from the
central directory as before (``bundle_rules``), and the job takes an early blob only if the
stream held exactly the central directory's entries, in the same order, and the member has
the size and CRC-32 the directory records; otherwise it copies the member from the staged
archive as it always did. Early unpacking stops, deleting what it wrote, at the first thing
it does not like: a name the rules would refuse, an encrypted or unsupported entry, damaged
data, more than the limits allow, or output growing much faster than input (a zip bomb
costs it at most ``1 MiB + 16 x`` the compressed bytes read).
"""

from __future__ import annotations

import logging
import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgspec
from stream_unzip import NO_ENCRYPTION, stream_unzip

from assets_registry.core.bundle_rules import ASSET_JSON, BundleLimits, BundleRejected, check_member_name, is_junk
from assets_registry.core.ports import BlobInfo, BlobStore

log = logging.getLogger("assets_registry.bundles")

UNZIP_CHUNK = 1 << 20
QUEUED_CHUNKS = 8
EXPANSION_ALLOWANCE = 1 << 20
EXPANSION_FACTOR = 16
_END = b""


def file_key(upload_id: str, name: str) -> str:
    """A member's blob: unique to the upload, and the same on every attempt of its job."""
    return f"assets/{upload_id}/{name}"


def manifest_key(staged_key: str) -> str:
    """Where the members stored early are listed, next to the staged archive."""
    return staged_key.removesuffix(".zip") + ".early.json"


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
class EarlyManifest:
    """What the stream held (every entry's name, in order) and which members were stored."""

    names: list[str]
    members: list[EarlyMember]

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
        return [m.key for m in self.members]


class _Stop(Exception):
    """Early unpacking gives up; the job will do all the work."""


class EarlyUnpack:
    """Feed it the staged bytes (``tee``); ``finish`` says what it stored, or None if it gave up."""

    def __init__(self, blobs: BlobStore, upload_id: str, limits: BundleLimits) -> None:
        self.blobs = blobs
        self.upload_id = upload_id
        self.limits = limits
        self._chunks: queue.Queue[bytes] = queue.Queue(QUEUED_CHUNKS)
        self._stopped = threading.Event()
        self._names: list[str] = []
        self._members: list[EarlyMember] = []
        self._read = 0
        self._unpacked = 0
        self._ended = False
        self._thread = threading.Thread(target=self._run, name=f"early-unpack-{upload_id}", daemon=True)
        self._thread.start()

    def tee(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield ``chunks`` on, handing each one to the unpacking thread as well."""
        try:
            for chunk in chunks:
                if chunk and not self._stopped.is_set():
                    self._chunks.put(chunk)
                yield chunk
        finally:
            self._chunks.put(_END)

    def finish(self) -> EarlyManifest | None:
        self._thread.join()
        if self._stopped.is_set():
            return None
        return EarlyManifest(self._names, self._members)

    def abandon(self) -> None:
        """The upload failed: stop, and delete whatever was stored."""
        self._stopped.set()
        if self._thread.is_alive():
            self._chunks.put(_END)  # the thread drains the queue once stopped, so there is room
        self._thread.join()
        self._delete_stored()

    # -- the unpacking thread ---------------------------------------------------------

    def _run(self) -> None:
        try:
            self._unpack()
        except Exception as exc:  # whatever it is, the job will meet it and say it better
            log.debug("upload %s: early unpacking stopped: %s", self.upload_id, exc)
            self._stopped.set()
            self._delete_stored()
        finally:
            self._drain()

    def _unpack(self) -> None:
        entries = stream_unzip(self._input(), chunk_size=UNZIP_CHUNK, allowed_encryption_mechanisms=(NO_ENCRYPTION,))
        for raw_name, _size, data in entries:
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
            key = file_key(self.upload_id, name)
            crc = _Crc()
            info = self.blobs.put(key, crc.of(self._bounded(data)))
            self._members.append(EarlyMember(name, key, info.url, info.size, crc.value, info.sha256))

    def _input(self) -> Iterator[bytes]:
        while True:
            if self._stopped.is_set():
                raise _Stop("the upload stopped")
            chunk = self._take()
            if not chunk:
                return  # stream-unzip raises if an entry was cut short
            self._read += len(chunk)
            yield chunk

    def _bounded(self, data: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in data:
            self._unpacked += len(chunk)
            if self._unpacked > self.limits.max_unpacked_bytes:
                raise _Stop("more than the unpacked-size limit")
            if self._unpacked > EXPANSION_ALLOWANCE + EXPANSION_FACTOR * self._read:
                raise _Stop("output grows much faster than input")
            yield chunk

    def _take(self) -> bytes:
        chunk = self._chunks.get()
        self._ended = self._ended or not chunk
        return chunk

    def _drain(self) -> None:
        """Take what the upload still hands over, so that it never waits on a full queue."""
        while not self._ended:
            self._take()

    def _delete_stored(self) -> None:
        for member in self._members:
            try:
                self.blobs.delete(member.key)
            except Exception:
                log.exception("could not delete blob %s; it is left behind", member.key)
        self._members = []


class _Crc:
    def __init__(self) -> None:
        self.value = 0

    def of(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.value = zlib.crc32(chunk, self.value)
            yield chunk
