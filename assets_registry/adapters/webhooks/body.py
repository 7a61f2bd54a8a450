"""A stored file as the file object httpx streams into a multipart part, and answers read in bounds.

httpx reads a part's file 64 KiB at a time and seeks it back to the start before every try,
so a file goes to a service as one stream from the store (``FileContent.chunks``), never
whole in memory, and a retry streams it again. Every read checks the request's deadline:
a service that reads slowly cannot stretch a request past its ``timeout``.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator

from assets_registry.core.ports import FileContent


class Overdue(Exception):
    """The request ran past its deadline."""


class Deadline:
    """When a request must be done by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise Overdue(f"it took longer than its timeout of {self.seconds:g} s")
        return left


class FileBody(io.RawIOBase):
    """The file's bytes for httpx: sequential reads of one stream, restartable from the start."""

    def __init__(self, file: FileContent, deadline: Deadline) -> None:
        super().__init__()
        self.file = file
        self.deadline = deadline
        self._position = 0
        self._stream: Iterator[bytes] | None = None
        self._pending = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = {os.SEEK_SET: offset, os.SEEK_CUR: self._position + offset, os.SEEK_END: self.file.size + offset}[
            whence
        ]
        if target not in (0, self._position, self.file.size):
            raise io.UnsupportedOperation("a file sent to a service is read from its start")
        if target != self._position:
            self._close_stream()
            self._position = target
        return target

    def read(self, size: int = -1) -> bytes:
        self.deadline.left()
        if self._position >= self.file.size:
            return b""
        if self._stream is None:
            self._stream = iter(self.file.chunks())
        wanted = self.file.size - self._position if size < 0 else size
        parts: list[bytes] = []
        got = 0
        while got < wanted:
            if self._offset >= len(self._pending):
                chunk = next(self._stream, None)
                if chunk is None:
                    break
                self._pending, self._offset = chunk, 0
            part = self._pending[self._offset : self._offset + wanted - got]
            self._offset += len(part)
            parts.append(part)
            got += len(part)
        self._position += got
        return b"".join(parts)

    def _close_stream(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
        self._stream, self._pending, self._offset = None, b"", 0

    def close(self) -> None:
        self._close_stream()
        super().close()
