"""Metadata extractors run over an ingested asset's stored files, before it is registered.

The Asset Store's order is mutate, validate, extract metadata, register: by the time this
runs, every file is stored and the asset has passed validation, so an extractor reads the
stored blob by ranges (``StoredFile``), never a whole file, and what it returns joins that
file's ``asset_file_metadata``. The registry's own keys (size, digests, date) always win.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
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


class StoredFile:
    """``FileContent`` over a stored blob: ranged reads, each at most ``MAX_RANGE`` bytes."""

    def __init__(self, blobs: BlobStore, key: str, path: str, size: int) -> None:
        self.blobs = blobs
        self.key = key
        self.path = path
        self.size = size

    def read(self, start: int, length: int) -> bytes:
        if start >= self.size or length <= 0:
            return b""
        return b"".join(self.blobs.read(self.key, start, min(length, MAX_RANGE, self.size - start)))


def describe_files(document: Document, blobs: BlobStore, describers: Sequence[Describer]) -> Document:
    """The document with each file's extracted metadata merged in (a copy; unchanged if none)."""
    if not describers:
        return document
    described = copy.deepcopy(document)
    for entry in described.get("files") or []:
        key = blobs.key_for_url(str(entry.get("asset_file_url", "")))
        metadata = entry.get("asset_file_metadata") or {}
        path = str(entry.get("asset_file_id", ""))
        if key is None or not isinstance(metadata.get("size"), int):
            continue
        stored = StoredFile(blobs, key, path, metadata["size"])
        found: dict[str, Any] = {}
        for describer in describers:
            if describer.matches(path):
                found.update(describer.extract(stored) or {})
        if found:  # what the registry measured (size, digests, date) is never overwritten
            entry["asset_file_metadata"] = {**metadata, **found, **{k: metadata[k] for k in OWN_KEYS if k in metadata}}
    return described
