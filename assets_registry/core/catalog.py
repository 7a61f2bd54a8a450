"""The catalog port: where the Asset Store's buckets and sources are kept (``core.sources``).

Re-exported by ``core.ports`` with the other ports; its contract suite is
``assets_registry.testing.catalog_contract``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Document = dict[str, Any]
CatalogKind = Literal["buckets", "sources", "tokens"]


@dataclass(frozen=True)
class CatalogRecord:
    """One bucket or source of the Asset Store, as its JSON document and a version (1, 2, …)."""

    key: str
    document: Document
    version: int


@runtime_checkable
class CatalogStore(Protocol):
    """Keeps the Asset Store's declarations (``core.sources``): buckets by name, sources by asset
    id; and the access tokens (``core.access``) by their public id.

    Records are JSON documents written by compare-and-set on their version, so that the API
    and any number of workers change them without locks: a write at a stale version raises
    ``RecordChanged`` and the caller reads again. Two top-level fields of a document are
    indexed, for the controllers' questions: ``bucket`` (the sources of a bucket) and ``due``
    (epoch seconds when a record wants its worker next; absent or null: never).
    """

    def get(self, kind: CatalogKind, key: str) -> CatalogRecord:
        """The record; raise ``RecordNotFound``."""

    def insert(self, kind: CatalogKind, key: str, document: Document) -> CatalogRecord:
        """Store a new record at version 1; raise ``RecordExists`` if the key is taken."""

    def replace(self, kind: CatalogKind, key: str, document: Document, expected_version: int) -> CatalogRecord:
        """Replace the record if it is still at ``expected_version``; ``RecordNotFound`` / ``RecordChanged``."""

    def delete(self, kind: CatalogKind, key: str, expected_version: int | None = None) -> None:
        """Remove the record; ``RecordNotFound`` (or ``RecordChanged`` at another version)."""

    def records(
        self, kind: CatalogKind, limit: int, after: str | None = None, bucket: str | None = None
    ) -> list[CatalogRecord]:
        """Up to ``limit`` records with keys after ``after``, in key order (only ``bucket``'s, if given)."""

    def due(self, kind: CatalogKind, now: float, limit: int) -> list[CatalogRecord]:
        """Up to ``limit`` records whose ``due`` is at most ``now``, soonest first."""

    def check(self) -> None:
        """Return if the backend answers; raise ``BackendUnavailable`` otherwise."""

    def close(self) -> None:
        """Release connections."""
