"""The catalog on MongoDB: buckets and sources as ``{"_id": key, "version": n, "doc": {...}, "bucket", "due"}``.

Two collections beside the asset documents' (``<collection>_buckets``, ``<collection>_sources``),
in the same database; ``bucket`` and ``due`` are copied out of the document on every write and
indexed. Versions make every write a compare-and-set (``replace_one`` on ``_id`` and
``version``), so racing workers never both win. Driver errors are mapped as the metadata
store maps them.
"""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from assets_registry.adapters.mongodb.store import MongoMetadataStore
from assets_registry.core.errors import RecordChanged, RecordExists, RecordNotFound
from assets_registry.core.ports import CatalogKind, CatalogRecord, Document

Stored = dict[str, Any]


class MongoCatalogStore:
    """``core.ports.CatalogStore`` on two MongoDB collections."""

    def __init__(self, url: str) -> None:
        self._connection = MongoMetadataStore(url)  # the client, its URL handling and error mapping
        database = self._connection.collection.database
        base = self._connection.target.collection
        self._collections: dict[str, Collection[Stored]] = {
            kind: database[f"{base}_{kind}"] for kind in ("buckets", "sources", "tokens")
        }
        self._indexed = False

    def _of(self, kind: CatalogKind) -> Collection[Stored]:
        collection = self._collections[kind]
        if not self._indexed:
            for each in self._collections.values():
                each.create_index([("bucket", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)])
                each.create_index([("due", pymongo.ASCENDING)])
            self._indexed = True
        return collection

    def get(self, kind: CatalogKind, key: str) -> CatalogRecord:
        with self._connection._guard():
            stored = self._of(kind).find_one({"_id": key})
        if stored is None:
            raise RecordNotFound(kind, key)
        return _record(stored)

    def insert(self, kind: CatalogKind, key: str, document: Document) -> CatalogRecord:
        with self._connection._guard():
            try:
                self._of(kind).insert_one(_stored(key, 1, document))
            except DuplicateKeyError:
                raise RecordExists(kind, key) from None
        return CatalogRecord(key, document, 1)

    def replace(self, kind: CatalogKind, key: str, document: Document, expected_version: int) -> CatalogRecord:
        with self._connection._guard():
            collection = self._of(kind)
            done = collection.replace_one(
                {"_id": key, "version": expected_version}, _stored(key, expected_version + 1, document)
            )
            if not done.matched_count:
                self._missing_or_changed(collection, kind, key)
        return CatalogRecord(key, document, expected_version + 1)

    def delete(self, kind: CatalogKind, key: str, expected_version: int | None = None) -> None:
        condition: Stored = {"_id": key}
        if expected_version is not None:
            condition["version"] = expected_version
        with self._connection._guard():
            collection = self._of(kind)
            if not collection.delete_one(condition).deleted_count:
                self._missing_or_changed(collection, kind, key)

    @staticmethod
    def _missing_or_changed(collection: Collection[Stored], kind: CatalogKind, key: str) -> None:
        if collection.find_one({"_id": key}, projection={"_id": 1}) is not None:
            raise RecordChanged(kind, key)
        raise RecordNotFound(kind, key)

    def records(
        self, kind: CatalogKind, limit: int, after: str | None = None, bucket: str | None = None
    ) -> list[CatalogRecord]:
        query: Stored = {"_id": {"$gt": after or ""}}
        if bucket is not None:
            query["bucket"] = bucket
        with self._connection._guard():
            cursor = self._of(kind).find(query).sort("_id", pymongo.ASCENDING).limit(limit)
            return [_record(stored) for stored in cursor]

    def due(self, kind: CatalogKind, now: float, limit: int) -> list[CatalogRecord]:
        with self._connection._guard():
            cursor = self._of(kind).find({"due": {"$ne": None, "$lte": now}}).sort("due", pymongo.ASCENDING)
            return [_record(stored) for stored in cursor.limit(limit)]

    def check(self) -> None:
        self._connection.check()

    def close(self) -> None:
        self._connection.close()


def _stored(key: str, version: int, document: Document) -> Stored:
    bucket, due = document.get("bucket"), document.get("due")
    return {
        "_id": key,
        "version": version,
        "doc": document,
        "bucket": bucket if isinstance(bucket, str) else None,
        "due": float(due) if isinstance(due, int | float) else None,
    }


def _record(stored: Stored) -> CatalogRecord:
    return CatalogRecord(stored["_id"], stored["doc"], stored["version"])
