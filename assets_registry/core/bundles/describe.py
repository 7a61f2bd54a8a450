"""Metadata extractors run over an ingested asset's stored files, before it is registered.

The Asset Store's order is mutate, validate, extract metadata, register: by the time this
runs, every file is stored and the asset has passed validation, so an extractor reads the
stored blob by ranges (``StoredFile``), never a whole file, and what it returns joins that
file's ``asset_file_metadata``. The registry's own keys (size, digests, date) always win.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from assets_registry.core.ports import BlobStore, Document, FileContent

MAX_RANGE = 16 << 20
"""The most one ``read`` hands an extractor: headers fit; whole models do not."""
OWN_KEYS = ("size", "sha256", "crc32", "modified")


class Describer(Protocol):
    """A metadata extractor as the registry holds it (``plugins.guards.GuardedExtractor``)."""

    name: str

    def matches(self, path: str) -> bool: ...
    def extract(self, file: FileContent) -> dict[str, Any] | None: ...


class BatchDescriber(Protocol):
    """A metadata step that describes many files at once (a metadata webhook service).

    ``describe`` gets every file its filter matches and returns metadata by file id; it
    raises ``StepRefused`` (``metadata_extraction_failed``) when it cannot.
    """

    name: str

    def matches(self, path: str) -> bool: ...
    def describe(self, files: Sequence[FileContent]) -> dict[str, dict[str, Any]]: ...


def _no_tick() -> None:
    pass


class StoredFile:
    """``FileContent`` over a stored blob: ranged reads, each at most ``MAX_RANGE`` bytes.

    ``tick`` is called on every read and chunk: the job's heartbeat, so that a step reading
    a large file (or streaming it to a service) keeps the job's lease.
    """

    def __init__(self, blobs: BlobStore, key: str, path: str, size: int, tick: Callable[[], None] = _no_tick) -> None:
        self.blobs = blobs
        self.key = key
        self.path = path
        self.size = size
        self.tick = tick

    def read(self, start: int, length: int) -> bytes:
        self.tick()
        if start >= self.size or length <= 0:
            return b""
        return b"".join(self.blobs.read(self.key, start, min(length, MAX_RANGE, self.size - start)))

    def chunks(self) -> Iterator[bytes]:
        for chunk in self.blobs.read(self.key):
            self.tick()
            yield chunk


def stored_files(
    document: Document, blobs: BlobStore, tick: Callable[[], None] = _no_tick
) -> Iterator[tuple[dict[str, Any], StoredFile]]:
    """Each file entry of the document whose blob is in this store, with its content."""
    for entry in document.get("files") or []:
        key = blobs.key_for_url(str(entry.get("asset_file_url", "")))
        metadata = entry.get("asset_file_metadata") or {}
        if key is not None and isinstance(metadata.get("size"), int):
            tick()
            yield entry, StoredFile(blobs, key, str(entry.get("asset_file_id", "")), metadata["size"], tick)


def describe_files(
    document: Document,
    blobs: BlobStore,
    describers: Sequence[Describer],
    batches: Sequence[BatchDescriber] = (),
    tick: Callable[[], None] = _no_tick,
) -> Document:
    """The document with each file's extracted metadata merged in (a copy; unchanged if none).

    The plugins' extractors first, file by file, then each batch service over all its files:
    later steps win per key, and the registry's own keys always.
    """
    if not describers and not batches:
        return document
    described = copy.deepcopy(document)
    files = list(stored_files(described, blobs, tick))
    found: dict[str, dict[str, Any]] = {stored.path: {} for _entry, stored in files}
    for _entry, stored in files:
        for describer in describers:
            if describer.matches(stored.path):
                found[stored.path].update(describer.extract(stored) or {})
    for batch in batches:
        chosen = [stored for _entry, stored in files if batch.matches(stored.path)]
        if chosen:
            for path, metadata in batch.describe(chosen).items():
                if path in found:
                    found[path].update(metadata)
    for entry, stored in files:
        if found[stored.path]:  # what the registry measured (size, digests, date) is never overwritten
            metadata = entry.get("asset_file_metadata") or {}
            own = {k: metadata[k] for k in OWN_KEYS if k in metadata}
            entry["asset_file_metadata"] = {**metadata, **found[stored.path], **own}
    return described
