"""The plugins' mutators over an ingested asset's stored files: first of the Asset Store's steps.

Mutate, validate, extract metadata, register: each mutator whose ``paths`` match a file's
id reads the stored file (ranged reads) and returns a replacement stream, or None to leave
it. A replacement is stored under ``mutated_key`` (another key, so the file it is made from
stays readable while it is written, on every store) and the file's URL, size, SHA-256 and
CRC-32 follow it. Mutators run in order, each on what the one before made.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from isal.isal_zlib import crc32

from assets_registry.core.bundles.describe import StoredFile, stored_files
from assets_registry.core.bundles.keys import mutated_key
from assets_registry.core.errors import StepRefused
from assets_registry.core.ports import BlobStore, Document, FileContent


class Reshaper(Protocol):
    """A mutator as the registry holds it (``plugins.guards.GuardedMutator``)."""

    name: str

    def matches(self, path: str) -> bool: ...
    def mutate(self, file: FileContent) -> Iterable[bytes] | None: ...


class _Counted:
    """A replacement's CRC-32, and its size held to the largest file a bundle may unpack to."""

    def __init__(self, step: str, path: str, limit: int | None, tick: Callable[[], None]) -> None:
        self.crc = 0
        self.size = 0
        self.step, self.path, self.limit, self.tick = step, path, limit, tick

    def of(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.tick()  # a replacement streamed from a service keeps the job's lease
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                raise StepRefused(
                    "mutation_error", self.step, self.path, f"the replacement is larger than {self.limit} bytes"
                )
            self.crc = crc32(chunk, self.crc)
            yield chunk


def mutate_files(
    document: Document,
    blobs: BlobStore,
    reshapers: Sequence[Reshaper],
    limit: int | None = None,
    tick: Callable[[], None] = lambda: None,
) -> tuple[Document, list[str], list[str]]:
    """The document after every mutator, the keys written, and the keys the files no longer use.

    A replacement larger than ``limit`` bytes stops the ingest (``mutation_error``). If a
    mutator fails, what the others already wrote is deleted before the error goes on.
    """
    if not reshapers:
        return document, [], []
    mutated = copy.deepcopy(document)
    written: list[str] = []
    replaced: list[str] = []
    try:
        _mutate_each(mutated, blobs, reshapers, written, replaced, limit, tick)
    except BaseException:
        for key in written:
            with contextlib.suppress(Exception):  # the orphan sweep takes what a failing store keeps
                blobs.delete(key)
        raise
    return mutated, written, replaced


def _mutate_each(
    mutated: Document,
    blobs: BlobStore,
    reshapers: Sequence[Reshaper],
    written: list[str],
    replaced: list[str],
    limit: int | None,
    tick: Callable[[], None],
) -> None:
    for entry, original in stored_files(mutated, blobs, tick):
        current, path = original, original.path
        metadata = entry["asset_file_metadata"]
        step = 0
        for reshaper in reshapers:
            if not reshaper.matches(path):
                continue
            replacement = reshaper.mutate(current)
            if replacement is None:
                continue
            step += 1
            counted = _Counted(reshaper.name, path, limit, tick)
            target = mutated_key(current.key, step)
            written.append(target)  # deleted if this put or a later mutator fails
            try:
                info = blobs.put(target, counted.of(replacement))
            finally:  # a replacement given up half-read (too large) lets its connection go now
                if close := getattr(replacement, "close", None):
                    close()
            replaced.append(current.key)
            current = StoredFile(blobs, info.key, path, info.size, tick)
            entry["asset_file_url"] = info.url
            entry["asset_file_metadata"] = {**metadata, "size": info.size, "sha256": info.sha256, "crc32": counted.crc}
            metadata = entry["asset_file_metadata"]
