"""A read-only, seekable file over a stored blob, for ``zipfile``.

A ZIP archive is read from its end (the central directory) and then member by member, so
``zipfile`` needs ``seek``. This view turns reads into the blob store's streamed, ranged
reads: one stream is kept open while reads are sequential (members follow one another), and
a new one is opened from the new offset only when ``zipfile`` jumps. Memory stays at one
chunk whatever the archive's size, on any blob store (files here, S3 or Ceph elsewhere).

A staged archive may have ``Hole``s: ranges left out of its blob because another blob holds
the same bytes (a stored member that was unpacked while the upload streamed in). The view
reads those ranges from where the holes point, so readers see the archive as uploaded.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from assets_registry.core.ports import BlobStore


@dataclass(frozen=True, slots=True)
class Hole:
    """``length`` bytes of the archive from ``offset`` are those of blob ``key`` from ``blob_offset``."""

    offset: int
    length: int
    key: str
    blob_offset: int

    @property
    def end(self) -> int:
        return self.offset + self.length

    @property
    def blob_end(self) -> int:
        return self.blob_offset + self.length


@dataclass(frozen=True, slots=True)
class _Piece:
    """A range of the archive and where its bytes are: ``key`` from ``key_offset``."""

    start: int
    end: int
    key: str
    key_offset: int


class BlobFile(io.RawIOBase):
    def __init__(self, blobs: BlobStore, key: str, size: int | None = None, holes: Sequence[Hole] = ()) -> None:
        super().__init__()
        self.blobs = blobs
        self.key = key
        stored = blobs.stat(key).size if size is None else size
        self.size = stored + sum(h.length for h in holes)
        self._pieces = _pieces(key, stored, holes)
        self._starts = [p.start for p in self._pieces]
        self._pos = 0
        self._stream: Iterator[bytes] | None = None
        self._stream_at: tuple[str, int] | None = None  # the blob and offset of the first byte of ``_pending``
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        position = base + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._pos = position
        return position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        want = min(len(view), max(self.size - self._pos, 0))
        done = 0
        while done < want:
            piece = self._pieces[bisect.bisect_right(self._starts, self._pos) - 1]
            got = self._read_piece(piece, view[done : done + min(want - done, piece.end - self._pos)])
            if not got:
                break
            done += got
            self._pos += got
        return done

    def _read_piece(self, piece: _Piece, view: memoryview) -> int:
        at = (piece.key, piece.key_offset + self._pos - piece.start)
        if self._stream is None or self._stream_at != at:
            self._open_at(*at)
        done = 0
        while done < len(view):
            if not self._pending:
                chunk = next(self._stream, b"") if self._stream is not None else b""
                if not chunk:
                    break
                self._pending = memoryview(chunk)
            take = min(len(view) - done, len(self._pending))
            view[done : done + take] = self._pending[:take]
            self._pending = self._pending[take:]
            done += take
        self._stream_at = (at[0], at[1] + done)
        return done

    def _open_at(self, key: str, offset: int) -> None:
        self._close_stream()
        self._stream = iter(self.blobs.read(key, offset))
        self._stream_at = (key, offset)
        self._pending = memoryview(b"")

    def _close_stream(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
        self._stream = None

    def close(self) -> None:
        self._close_stream()
        super().close()


def _pieces(key: str, stored: int, holes: Sequence[Hole]) -> list[_Piece]:
    """The archive as ranges: of the staged blob between the holes, and of the holes' blobs."""
    pieces: list[_Piece] = []
    position = kept = 0
    for hole in sorted(holes, key=lambda h: h.offset):
        if hole.offset < position or hole.length <= 0:
            raise ValueError(f"the holes of {key} overlap or are empty")
        if hole.offset > position:
            pieces.append(_Piece(position, hole.offset, key, kept))
            kept += hole.offset - position
        pieces.append(_Piece(hole.offset, hole.end, hole.key, hole.blob_offset))
        position = hole.end
    if stored < kept:
        raise ValueError(f"the holes of {key} lie past its end")
    if stored > kept or not pieces:
        pieces.append(_Piece(position, position + stored - kept, key, kept))
    return pieces
