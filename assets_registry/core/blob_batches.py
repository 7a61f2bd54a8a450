"""``BlobStore.read_many`` through a store's ``read``: one blob after another (``read_each``),
or with reads in flight on a few threads while earlier blobs are sent (``read_ahead``).

Reading a small file is mostly waiting on the kernel (or, on S3 and Swift, on a round trip),
with the GIL released; a few reader threads a little ahead of the sender overlap those
waits. What is read ahead is bounded in bytes, so memory stays flat.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

Item = tuple[str, int]
Read = Callable[[str, int, int | None], Iterable[bytes]]
"""``BlobStore.read``: key, start, length."""
BATCH_FILES = 64
BATCH_BYTES = 256 << 10
BATCHES_AHEAD = 4
"""At most this many batches wait beside the one being sent: a few MiB, even of 1 MiB files."""
READERS = 3


def read_each(read: Read, items: Iterable[Item]) -> Iterator[bytes]:
    """Each blob whole (at most ``size + 1`` bytes), in order, one after another."""
    for key, size in items:
        yield _whole(read, key, size)


def read_ahead(read: Read, items: Iterable[Item], readers: int = READERS) -> Iterator[bytes]:
    """As ``read_each``, read in batches on ``readers`` threads; an error reading a blob is
    raised in its turn, after the blobs before it."""
    batches = _batches(items)
    first = next(batches, None)
    if first is None:
        return
    second = next(batches, None)
    if second is None:  # one batch: no threads for it
        yield from read_each(read, first)
        return
    with ThreadPoolExecutor(readers, thread_name_prefix="blob-read") as pool:
        pending: deque[Future[list[bytes | BaseException]]] = deque()
        try:
            for batch in _chain(first, second, batches):
                pending.append(pool.submit(_read_batch, read, batch))
                if len(pending) > BATCHES_AHEAD:
                    yield from _results(pending.popleft())
            while pending:
                yield from _results(pending.popleft())
        finally:
            for future in pending:
                future.cancel()


def _chain(first: list[Item], second: list[Item], rest: Iterator[list[Item]]) -> Iterator[list[Item]]:
    yield first
    yield second
    yield from rest


def _batches(items: Iterable[Item]) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for key, expected in items:
        batch.append((key, expected))
        size += expected
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _whole(read: Read, key: str, size: int) -> bytes:
    return b"".join(read(key, 0, size + 1))


def _read_batch(read: Read, batch: list[Item]) -> list[bytes | BaseException]:
    results: list[bytes | BaseException] = []
    for key, size in batch:
        try:
            results.append(_whole(read, key, size))
        except Exception as exc:  # raised by the sender when it reaches this blob
            results.append(exc)
            break
    return results


def _results(future: Future[list[bytes | BaseException]]) -> Iterator[bytes]:
    for result in future.result():
        if isinstance(result, BaseException):
            raise result
        yield result
