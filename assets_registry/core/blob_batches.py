"""``BlobStore.read_many`` with reads in flight on a few threads while earlier blobs are sent.

Reading a small file is mostly waiting on the kernel (or, on S3 and Swift, on a round trip),
with the GIL released; a few reader threads a little ahead of the sender overlap those
waits. What is read ahead is bounded in bytes, so memory stays flat.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

Item = tuple[str, int]
BATCH_FILES = 64
BATCH_BYTES = 256 << 10
BATCHES_AHEAD = 4
"""At most this many batches wait beside the one being sent: a few MiB, even of 1 MiB files."""
READERS = 3


def read_ahead(read_one: Callable[[str, int], bytes], items: Iterable[Item], readers: int = READERS) -> Iterator[bytes]:
    """Each blob's bytes by ``read_one(key, size)``, in order, read in batches on ``readers``
    threads; an error reading a blob is raised in its turn, after the blobs before it."""
    batches = _batches(items)
    first = next(batches, None)
    if first is None:
        return
    second = next(batches, None)
    if second is None:  # one batch: no threads for it
        for key, size in first:
            yield read_one(key, size)
        return
    with ThreadPoolExecutor(readers, thread_name_prefix="blob-read") as pool:
        pending: deque[Future[list[bytes | BaseException]]] = deque()
        try:
            for batch in _chain(first, second, batches):
                pending.append(pool.submit(_read_batch, read_one, batch))
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


def _read_batch(read_one: Callable[[str, int], bytes], batch: list[Item]) -> list[bytes | BaseException]:
    results: list[bytes | BaseException] = []
    for key, size in batch:
        try:
            results.append(read_one(key, size))
        except Exception as exc:  # raised by the sender when it reaches this blob
            results.append(exc)
            break
    return results


def _results(future: Future[list[bytes | BaseException]]) -> Iterator[bytes]:
    for result in future.result():
        if isinstance(result, BaseException):
            raise result
        yield result
