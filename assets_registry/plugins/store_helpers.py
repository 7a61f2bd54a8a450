"""Helpers for writing a blob store: the built-in stores use them, and a third-party store may too.

This module is public and kept stable for plugin authors (see ``docs/plugins.md``):

- **Keys**: ``key_problem`` holds the one set of rules for blob keys that every built-in
  store applies, so a key accepted by one store is accepted by all; ``InvalidBlobKey`` and
  ``BlobTooLarge`` are the errors a store raises (the HTTP layer answers them with 400 and a
  machine-readable code).
- **Existence**: ``missing_by_listing`` answers ``BlobStore.missing`` for stores that list
  folders in name order (S3, Swift) with a listing per folder instead of a request per key;
  ``by_folder`` and ``blob_exists`` are its parts.
- **Batched reads**: ``read_each`` and ``read_ahead`` give ``BlobStore.read_many`` from a
  store's ``read``: one blob after another, or a few reads in flight on threads while earlier
  blobs are sent (reading a small file is mostly waiting on the kernel or a round trip, with
  the GIL released). What is read ahead is bounded in bytes, so memory stays flat.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from assets_registry.core.errors import BlobNotFound, InvalidInput
from assets_registry.core.identifiers import has_control
from assets_registry.core.ports import BlobInfo

RESERVED_FOLDER = ".partial"
"""No key starts with this folder: the filesystem store keeps its half-written blobs there."""
MAX_KEY_CHARS = 2048
MAX_SEGMENT_BYTES = 255


class InvalidBlobKey(InvalidInput):
    """A key that breaks ``key_problem``'s rules or a store's own limit (such as S3's length)."""

    code = "invalid_blob_key"


class BlobTooLarge(InvalidInput):
    """A blob over what the store can hold in one object (S3's parts, Swift's segments)."""

    code = "blob_too_large"


_PLAIN_KEY = re.compile(
    r"(?!\.partial(?:/|$))"  # not under the reserved folder
    r"(?:(?!\.\.?/)[ -.0-\[\]-~]{1,255}/)*"  # folders: printable ASCII but / and \, not . or ..
    r"(?!\.\.?$)[ -.0-\[\]-~]{1,255}"  # the blob's own name, likewise
)
PLAIN_NAME = re.compile(r"(?!\.\.?$)[ -.0-\[\]-~]{1,255}")
"""A blob's own name (the key's last segment) in plain ASCII, as ``key_problem`` takes it at once."""


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot name a blob (a relative ``a/b/c`` path), or None if it can.

    Most keys are plain ASCII paths, which one regular expression accepts (a download of many
    small files checks a key per file); anything else goes through ``key_problem_by_rules``.
    """
    if len(key) <= MAX_KEY_CHARS and _PLAIN_KEY.fullmatch(key):
        return None
    return key_problem_by_rules(key)


def key_problem_by_rules(key: str) -> str | None:
    """``key_problem`` without the fast path: each rule in turn, with its own sentence."""
    if not key or len(key) > MAX_KEY_CHARS:
        return f"must be 1 to {MAX_KEY_CHARS} characters long"
    if has_control(key) or "\\" in key:
        return "must not contain control characters or '\\'"
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return "must be a relative path without empty, '.' or '..' segments"
    if parts[0] == RESERVED_FOLDER:
        return f"must not start with the reserved folder {RESERVED_FOLDER!r}"
    if any(len(p.encode()) > MAX_SEGMENT_BYTES for p in parts):
        return f"must not have a path segment longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def check_key(key: str) -> str:
    """``key`` itself, or ``InvalidBlobKey`` saying which rule it breaks."""
    problem = key_problem(key)
    if problem:
        raise InvalidBlobKey(f"The blob key {key!r} {problem}.")
    return key


FEW = 3
"""Up to this many keys of one folder are asked about one by one rather than listed."""


def by_folder(keys: Iterable[str]) -> dict[str, list[str]]:
    """Each folder (``a/b/`` for ``a/b/c``, ``""`` at the top) and its keys, sorted, once each."""
    folders: dict[str, list[str]] = {}
    for key in dict.fromkeys(keys):
        folders.setdefault(key[: key.rfind("/") + 1], []).append(key)
    for names in folders.values():
        names.sort()
    return folders


def missing_by_listing(
    keys: Sequence[str],
    name_of: Callable[[str], str],
    stat: Callable[[str], BlobInfo],
    listed: Callable[[str, str, str], set[str]],
) -> list[str]:
    """``BlobStore.missing`` for stores of named objects that list folders in name order (S3, Swift).

    ``name_of`` gives a key's object name (checking the key), ``listed(folder, first, last)``
    the object names directly in ``folder`` from ``first`` to ``last`` (it may give more). A
    folder with more than ``FEW`` of the keys is listed; fewer are looked up one by one.
    """
    gone: set[str] = set()
    for keys_here in by_folder(keys).values():
        names = {name_of(key): key for key in keys_here}
        if len(keys_here) <= FEW:
            gone.update(key for key in keys_here if not blob_exists(stat, key))
            continue
        first, last = min(names), max(names)
        present = listed(first[: first.rfind("/") + 1], first, last)
        gone.update(key for name, key in names.items() if name not in present)
    return [key for key in dict.fromkeys(keys) if key in gone]


def blob_exists(stat: Callable[[str], BlobInfo], key: str) -> bool:
    """Whether ``stat`` finds the blob (``BlobNotFound`` means no)."""
    try:
        stat(key)
    except BlobNotFound:
        return False
    return True


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
