"""Frames: the bytes of an asset's ZIP download that are not its files, kept for the next download.

stream-zip spends about 16 us building each member's headers, more than reading a 1 KiB
file takes; for an asset of 10,000 small files that is most of a download. Yet the headers
depend only on what the asset's ``asset.json`` says (names, sizes, CRC-32s), so they are the
same for every download of the same metadata. The first stream-zip run over an asset is
watched (``capture``): every byte that is not a member's data is copied aside, in order, as
one frame before each member plus the central directory after the last. Later downloads of
the same metadata splice those frames between the files' bytes (``replay``) and make no
ZIP structure at all. The frames are stream-zip's own output, byte for byte.

Frames live in the blob store under the SHA-256 of the ``asset.json`` they were made for, so
they can never be used with other metadata: an update or a new asset of the same id has a
new digest. A frames blob carries a CRC-32 of its index and of its frames; a download that
finds the frames damaged stops before the end of the archive, as for a changed file.

Where each member's data begins is known before the first byte, as the archive's length
is: a local header's length depends only on the name's length, and is measured once per
name length on an empty member run through stream-zip. ``Capture`` checks that the bytes
it takes for each member's data have the member's CRC-32, and keeps no frames if not.
"""

from __future__ import annotations

import logging
import struct
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

import msgspec
from isal.isal_zlib import crc32

from assets_registry.core.bundles.errors import FramesDamaged, MemberChanged
from assets_registry.core.errors import BlobNotFound
from assets_registry.core.ports import BlobStore

log = logging.getLogger("assets_registry.bundles")

MIN_MEMBERS = 64
"""Archives with fewer members (``asset.json`` included) are rebuilt every time: frames
would save them less than a millisecond."""
KEEP_MEAN_BYTES = 1 << 20
"""Nor are archives whose members average more than this: stream-zip's 16 us a member is
lost in the time their bytes take (16 ms of a 2 GiB download of 1,001 members)."""
KEEP_AT_UPLOAD_MEAN_BYTES = 64 << 10
"""The upload job keeps an asset's frames (reading its files once more) when its members
average at most this: then stream-zip's cost per member outweighs reading the bytes again."""
SMALL_MEMBER_BYTES = 1 << 20
"""Members up to this size are read whole (``BlobStore.read_many``); larger ones stream."""
OUTPUT_CHUNK = 1 << 20

_MAGIC = b"assets-registry zip frames 1\n"
_PREFIX = struct.Struct("<QI")  # index length, CRC-32 of the index


class _Index(msgspec.Struct, array_like=True, frozen=True):
    keys: list[str]
    sizes: list[int]
    crcs: list[int]
    lengths: list[int]  # frame lengths: one before each member (asset.json first), then the directory
    frames_crc: int


@dataclass(frozen=True)
class Frames:
    """A frames blob's index, read and checked; the frames stay in the blob until ``replay``."""

    key: str
    index: _Index
    body_offset: int

    @property
    def keys(self) -> list[str]:
        return self.index.keys

    def archive_size(self, manifest: bytes) -> int:
        return sum(self.index.lengths) + len(manifest) + sum(self.index.sizes)


def may_have_frames(members: int) -> bool:
    return members >= MIN_MEMBERS


def worth_frames(members: int, archive_size: int) -> bool:
    return may_have_frames(members) and archive_size <= members * KEEP_MEAN_BYTES


def worth_keeping_at_upload(members: int, archive_size: int) -> bool:
    return may_have_frames(members) and archive_size <= members * KEEP_AT_UPLOAD_MEAN_BYTES


def read_frames(blobs: BlobStore, key: str) -> Frames | None:
    """The frames kept under ``key``, or None if there are none (or they cannot be used)."""
    try:
        head = _read_exactly(blobs, key, 0, len(_MAGIC) + _PREFIX.size)
        if head is None or head[: len(_MAGIC)] != _MAGIC:
            return None
        length, index_crc = _PREFIX.unpack_from(head, len(_MAGIC))
        encoded = _read_exactly(blobs, key, len(head), length)
        if encoded is None or crc32(encoded) != index_crc:
            log.warning("zip frames %s are damaged; the download is built afresh", key)
            return None
        index = msgspec.msgpack.decode(encoded, type=_Index)
    except BlobNotFound:
        return None
    except msgspec.DecodeError:
        log.warning("zip frames %s cannot be decoded; the download is built afresh", key)
        return None
    members = len(index.keys)
    if not (len(index.sizes) == len(index.crcs) == members and len(index.lengths) == members + 2):
        return None
    return Frames(key, index, len(head) + length)


def _read_exactly(blobs: BlobStore, key: str, start: int, length: int) -> bytes | None:
    data = b"".join(blobs.read(key, start, length))
    return data if len(data) == length else None


# -- watching stream-zip ------------------------------------------------------------------


class Capture:
    """Copies aside the bytes of a stream-zip run that are not member data.

    ``starts`` are where each member's data begins in the archive (``sizes`` long, with
    those ``crcs``); ``seen`` gets every output chunk in order. Each member's data, as cut
    out of the output, must have its CRC-32, or no frames are kept.
    """

    def __init__(self, starts: Sequence[int], sizes: Sequence[int], crcs: Sequence[int]) -> None:
        self.starts = starts
        self.sizes = sizes
        self.crcs = crcs
        self.position = 0
        self.frames: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115
        self.frames_crc = 0
        self.sound = True
        self._next = 0  # the member whose data comes next (or is under way)
        self._crc = 0  # of that member's data so far

    def seen(self, chunk: bytes) -> None:
        begin, end = self.position, self.position + len(chunk)
        cursor = begin
        view = memoryview(chunk)
        members = len(self.starts)
        while cursor < end or (self._next < members and self.starts[self._next] + self.sizes[self._next] == cursor):
            n = self._next
            data_start = self.starts[n] if n < members else end
            if cursor < data_start:  # frame bytes up to the next member's data
                stop = min(data_start, end)
                piece = view[cursor - begin : stop - begin]
                self.frames.write(piece)
                self.frames_crc = crc32(piece, self.frames_crc)
                cursor = stop
                continue
            data_end = data_start + self.sizes[n]
            stop = min(data_end, end)
            self._crc = crc32(view[cursor - begin : stop - begin], self._crc)
            cursor = stop
            if stop == data_end:
                self.sound = self.sound and self._crc == self.crcs[n]
                self._next, self._crc = n + 1, 0
            else:
                break
        self.position = end

    def save(self, blobs: BlobStore, key: str, keys: list[str]) -> None:
        """Store the frames, if the run went to its end and every member's data checked out."""
        try:
            if not self.sound or self._next != len(self.starts):
                log.warning("zip frames for %s were not kept: the member boundaries did not check out", key)
                return
            ends = [start + size for start, size in zip(self.starts, self.sizes, strict=True)]
            lengths = [self.starts[0]]
            lengths += [start - end for start, end in zip(self.starts[1:], ends, strict=False)]
            lengths.append(self.position - ends[-1])
            index = _Index(keys, list(self.sizes[1:]), list(self.crcs[1:]), lengths, self.frames_crc)
            encoded = msgspec.msgpack.encode(index)
            self.frames.seek(0)
            head = _MAGIC + _PREFIX.pack(len(encoded), crc32(encoded))
            blobs.put(key, _concat([head, encoded], self.frames))
        except Exception:
            log.exception("zip frames %s could not be stored; downloads still work, only slower", key)
        finally:
            self.frames.close()

    def discard(self) -> None:
        self.frames.close()


def _concat(first: list[bytes], rest: IO[bytes]) -> Iterator[bytes]:
    yield from first
    while chunk := rest.read(OUTPUT_CHUNK):
        yield chunk


# -- splicing -----------------------------------------------------------------------------


def replay(frames: Frames, manifest: bytes, blobs: BlobStore) -> Iterator[bytes]:
    """The archive again: frames from the blob, ``asset.json``, and the files' bytes, checked.

    Raises ``MemberChanged`` or ``BlobNotFound`` (a file) or ``FramesDamaged`` before the
    last bytes of the archive, never after.
    """
    index = frames.index
    reader = _FrameReader(blobs.read(frames.key, frames.body_offset))
    small = blobs.read_many(
        (key, size) for key, size in zip(index.keys, index.sizes, strict=True) if size <= SMALL_MEMBER_BYTES
    )
    out = bytearray(reader.take(index.lengths[0]))
    out += manifest
    for n, (size, crc) in enumerate(zip(index.sizes, index.crcs, strict=True)):
        out += reader.take(index.lengths[n + 1])
        if size <= SMALL_MEMBER_BYTES:
            data = next(small)
            if len(data) != size or crc32(data) != crc:
                raise MemberChanged(index.keys[n])
            out += data
            if len(out) >= OUTPUT_CHUNK:
                yield bytes(out)
                out.clear()
        else:
            yield bytes(out)
            out.clear()
            yield from _checked(blobs.read(index.keys[n]), index.keys[n], size, crc)
    out += reader.take(index.lengths[-1])
    if reader.crc != index.frames_crc or not reader.at_end():
        raise FramesDamaged(frames.key)
    yield bytes(out)


def _checked(chunks: Iterable[bytes], key: str, size: int, crc: int) -> Iterator[bytes]:
    """A large member's bytes as they stream; its last chunk is held back until it checks out."""
    seen = actual = 0
    held: bytes | None = None
    for chunk in chunks:
        seen += len(chunk)
        if seen > size:
            raise MemberChanged(key)
        actual = crc32(chunk, actual)
        if held is not None:
            yield held
        held = chunk
    if (seen, actual) != (size, crc):
        raise MemberChanged(key)
    if held is not None:
        yield held


class _FrameReader:
    """Takes frames one after another from the blob's chunks, with their running CRC-32."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.chunk = b""
        self.offset = 0
        self.crc = 0

    def take(self, length: int) -> bytes:
        if self.offset + length <= len(self.chunk):  # the usual case: within the current chunk
            piece = self.chunk[self.offset : self.offset + length]
            self.offset += length
        else:
            parts = [self.chunk[self.offset :]]
            wanted = length - len(parts[0])
            while wanted > 0:
                self.chunk, self.offset = next(self.chunks, b""), 0
                if not self.chunk:
                    raise FramesDamaged("the frames end early")
                parts.append(self.chunk[:wanted])
                self.offset = len(parts[-1])
                wanted -= self.offset
            piece = b"".join(parts)
        self.crc = crc32(piece, self.crc)
        return piece

    def at_end(self) -> bool:
        return self.offset == len(self.chunk) and next(self.chunks, b"") == b""
