"""Streaming a blob of unknown size into S3, several parts in flight, memory bounded.

Why not boto3's ``upload_fileobj``: over a stream that cannot seek, s3transfer keeps up to
``max_in_memory_upload_chunks`` (10) parts in memory and reads them from worker threads,
and it gives no say over how an exception of the source is reported. Here the chunks fill a
part buffer; a full buffer is handed to one of ``in_flight`` threads that send it
(``upload_part``) while the next one fills, so the wire stays busy (one part at a time left it
idle between parts: 0.45-0.52x of raw boto3 on SeaweedFS), and memory stays at about
``(in_flight + 1) x part_size`` whatever the blob's size: when every buffer is in flight, the
reader waits for the oldest part to be sent. A blob that fits in one part goes as one
``put_object``. If anything fails, the caller's iterator included, the multipart upload is
aborted: S3 shows an object only once ``complete_multipart_upload`` succeeds, so no reader
ever sees a part of a blob.
"""

from __future__ import annotations

import contextlib
import io
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from assets_registry.adapters.s3.failures import translated
from assets_registry.plugins.store_helpers import BlobTooLarge

if TYPE_CHECKING:
    from hashlib import _Hash

    from _typeshed import WriteableBuffer

CHECKSUM_ALGORITHM = "CRC32"
CHECKSUM_FIELD = "ChecksumCRC32"
MAX_PARTS = 10_000
"""S3's limit on the parts of one multipart upload."""


class PartBody(io.RawIOBase):
    """A read-only, seekable view of the first bytes of the part buffer, for botocore to send.

    botocore reads it in blocks (to sign, checksum and send it) and seeks back to resend it
    on a retry; no copy of the part is ever made.
    """

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        n = max(0, min(len(target), len(self._view) - self._pos))
        target[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        data = bytes(self._view[self._pos : end]) if end > self._pos else b""
        self._pos = max(self._pos, end)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


class StreamingUpload:
    """One blob being written to ``bucket``/``object_key`` (``key`` is its name in errors)."""

    def __init__(self, client: Any, bucket: str, object_key: str, key: str, part_size: int, in_flight: int = 1) -> None:
        self._client = client
        self._bucket = bucket
        self._object_key = object_key
        self._key = key
        self._part_size = part_size
        self._in_flight = max(1, in_flight)
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._sending: deque[tuple[Future[dict[str, Any]], bytearray]] = deque()
        self._spare: list[bytearray] = []
        self._senders: ThreadPoolExecutor | None = None

    def run(self, chunks: Iterable[bytes], digest: _Hash | None) -> int:
        """Send every chunk; return the blob's size. Exceptions of ``chunks`` propagate as they are."""
        buffer = bytearray(self._part_size)
        filled = 0
        size = 0
        try:
            for chunk in chunks:
                view = memoryview(chunk).cast("B")
                if digest is not None:
                    digest.update(view)
                size += len(view)
                while view:
                    if filled == self._part_size:  # full, and more is coming: send it as a part
                        self._submit(buffer, filled)
                        buffer, filled = self._next_buffer(), 0
                    n = min(self._part_size - filled, len(view))
                    buffer[filled : filled + n] = view[:n]
                    filled += n
                    view = view[n:]
            if self._upload_id is None:
                self._put_whole(memoryview(buffer)[:filled])
            else:
                self._submit(buffer, filled)
                self._wait_for_parts(0)
                self._complete()
        except BaseException:
            self._abort()
            raise
        finally:
            if self._senders is not None:
                self._senders.shutdown(wait=True, cancel_futures=True)
        return size

    def _put_whole(self, data: memoryview) -> None:
        with translated(self._bucket):
            self._client.put_object(Bucket=self._bucket, Key=self._object_key, Body=PartBody(data))

    def _submit(self, buffer: bytearray, length: int) -> None:
        """Hand ``buffer``'s first ``length`` bytes to a sender as the next part."""
        number = len(self._parts) + len(self._sending) + 1
        if number > MAX_PARTS:
            raise BlobTooLarge(
                f"The blob {self._key!r} is larger than S3 takes in {MAX_PARTS} parts of {self._part_size} bytes; "
                "raise the part_size option of the s3:// URL."
            )
        if self._upload_id is None:
            with translated(self._bucket):
                created = self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._object_key, **self._checksum_args()
                )
            self._upload_id = str(created["UploadId"])
            self._senders = ThreadPoolExecutor(self._in_flight, thread_name_prefix="s3-part")
        assert self._senders is not None
        data = memoryview(buffer)[:length]
        self._sending.append((self._senders.submit(self._send_part, number, data), buffer))

    def _next_buffer(self) -> bytearray:
        """An empty part buffer, once at most ``in_flight`` parts are in the air (so at most
        ``in_flight + 1`` buffers ever exist: that many sending, one filling)."""
        self._wait_for_parts(self._in_flight)
        return self._spare.pop() if self._spare else bytearray(self._part_size)

    def _wait_for_parts(self, left: int) -> None:
        """Take the oldest parts' answers (in order) until ``left`` are still being sent."""
        while len(self._sending) > left:
            future, buffer = self._sending.popleft()
            self._parts.append(future.result())  # a part's failure is raised here
            self._spare.append(buffer)

    def _send_part(self, number: int, data: memoryview) -> dict[str, Any]:
        with translated(self._bucket):
            answer = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=PartBody(data),
            )
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if CHECKSUM_FIELD in answer:
            part[CHECKSUM_FIELD] = answer[CHECKSUM_FIELD]
        return part

    def _checksum_args(self) -> dict[str, str]:
        """Declare the parts' checksum up front, as s3transfer does, when botocore sends one.

        botocore (``request_checksum_calculation=when_supported``, its default) adds a CRC32 to
        every part; AWS then wants the upload created with that algorithm and the parts'
        checksums repeated on completion.
        """
        if getattr(self._client.meta.config, "request_checksum_calculation", None) == "when_supported":
            return {"ChecksumAlgorithm": CHECKSUM_ALGORITHM}
        return {}

    def _complete(self) -> None:
        with translated(self._bucket):
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._upload_id = None  # done: nothing left to abort

    def _abort(self) -> None:
        """Drop the parts sent so far; a failure here must not hide the error that led here.

        Should the abort itself fail (the server is gone), the parts stay invisible as objects;
        a bucket lifecycle rule (AbortIncompleteMultipartUpload) reclaims their space.
        """
        if self._senders is not None:  # parts still being sent would land after the abort
            self._senders.shutdown(wait=True, cancel_futures=True)
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        with contextlib.suppress(ClientError, BotoCoreError):
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._object_key, UploadId=upload_id)
