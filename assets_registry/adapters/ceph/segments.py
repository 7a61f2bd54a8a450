"""One segment of an upload held in memory, and where segments are named.

An upload is cut into segments of ``segment_size`` bytes. Each is buffered before it is
sent, for three reasons: the store must know whether a blob is smaller than one segment
(then it is a plain object) before choosing where to write it; a buffered segment can be
sent again when swiftclient retries after a hiccup of the gateway; and its MD5 is known
before it is sent, so the gateway checks the bytes it received (a mismatch is HTTP 422).
Memory per upload is therefore one segment, whatever the blob's size.
"""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import quote

MAX_OBJECT_NAME_BYTES = 1024
"""RGW's Swift API refuses longer object names with HTTP 400 (names are bytes of UTF-8)."""
_SEGMENT_SUFFIX_BYTES = len("/") + 32 + len("/") + 8


class SegmentBuffer:
    """The caller's chunks of one segment, kept as they are (never joined), read as a file.

    ``read``, ``seek`` and ``tell`` are what swiftclient needs to send the segment with a
    ``Content-Length`` and to rewind it for a retry.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._md5 = hashlib.md5(usedforsecurity=False)  # the gateway's ETag, not a security hash
        self.size = 0
        self._index = 0  # reading position: which chunk, and where in it
        self._offset = 0
        self._position = 0

    def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def release(self) -> None:
        """Drop the bytes once sent: the HTTP client keeps its last request (so this buffer)
        alive until the connection's next call, which would double the memory of an upload."""
        self._chunks = []
        self._index = self._offset = self._position = 0

    @property
    def etag(self) -> str:
        return self._md5.hexdigest()

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.size - self._position if size is None or size < 0 else size
        pieces: list[bytes] = []
        while wanted > 0 and self._index < len(self._chunks):
            chunk = self._chunks[self._index]
            piece = chunk[self._offset : self._offset + wanted]
            pieces.append(piece)
            wanted -= len(piece)
            self._position += len(piece)
            self._offset += len(piece)
            if self._offset >= len(chunk):
                self._index, self._offset = self._index + 1, 0
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = 0) -> int:
        if whence != 0 or not 0 <= position <= self.size:
            raise OSError("a segment buffer seeks to absolute positions within it only")
        self._index, self._offset, self._position = 0, 0, 0
        while position > 0:
            step = min(position, len(self._chunks[self._index]) - self._offset)
            position -= step
            self._position += step
            self._offset += step
            if self._offset >= len(self._chunks[self._index]):
                self._index, self._offset = self._index + 1, 0
        return self._position


def object_name(prefix: str, key: str) -> str:
    return f"{prefix}/{key}" if prefix else key


def segment_folder(name: str) -> str:
    """A fresh folder for one upload's segments: ``<name>/<uuid>/``, readable when browsing.

    Segment names take 42 bytes more than the blob's; a name too long to keep whole is
    replaced by its SHA-256, so every key the store accepts can also be cut into segments.
    """
    if len(name.encode()) + _SEGMENT_SUFFIX_BYTES > MAX_OBJECT_NAME_BYTES:
        name = "long-names/" + hashlib.sha256(name.encode()).hexdigest()
    return f"{name}/{uuid.uuid4().hex}/"


def segment_name(folder: str, number: int) -> str:
    return f"{folder}{number:08d}"


def header_value(text: str) -> str:
    """Text made safe for an HTTP header (object metadata), reversible with ``unquote``."""
    return quote(text, safe="/")
