"""A read-only, seekable file over a stored blob, for ``zipfile``.

A ZIP archive is read from its end (the central directory) and then member by member, so
``zipfile`` needs ``seek``. This view turns reads into the blob store's streamed, ranged
reads: one stream is kept open while reads are sequential (members follow one another), and
a new one is opened from the new offset only when ``zipfile`` jumps. Memory stays at one
chunk whatever the archive's size, on any blob store (files here, S3 or Ceph elsewhere).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from assets_registry.core.ports import BlobStore


class BlobFile(io.RawIOBase):
    def __init__(self, blobs: BlobStore, key: str, size: int | None = None) -> None:
        super().__init__()
        self.blobs = blobs
        self.key = key
        self.size = blobs.stat(key).size if size is None else size
        self._pos = 0
        self._stream: Iterator[bytes] | None = None
        self._stream_pos = 0  # offset of the first byte of ``_pending``
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
        want = min(len(buffer), max(self.size - self._pos, 0))
        if want == 0:
            return 0
        if self._stream is None or self._stream_pos != self._pos:
            self._open_at(self._pos)
        view = memoryview(buffer).cast("B")
        done = 0
        while done < want:
            if not self._pending:
                chunk = next(self._stream, b"") if self._stream is not None else b""
                if not chunk:
                    break
                self._pending = memoryview(chunk)
            take = min(want - done, len(self._pending))
            view[done : done + take] = self._pending[:take]
            self._pending = self._pending[take:]
            done += take
        self._pos += done
        self._stream_pos = self._pos
        return done

    def _open_at(self, offset: int) -> None:
        self._close_stream()
        self._stream = iter(self.blobs.read(self.key, offset))
        self._stream_pos = offset
        self._pending = memoryview(b"")

    def _close_stream(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
        self._stream = None

    def close(self) -> None:
        self._close_stream()
        super().close()
