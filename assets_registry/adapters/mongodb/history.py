"""The audit trail and revision history on MongoDB, beside the asset documents' collection.

``<collection>_changes``: one document per change, ``_id`` a zero-padded number from an atomic
counter (``<collection>_revision_numbers``, key ``/changes``: not an asset id, which cannot
hold ``/``), so changes page in the order they were numbered; ``asset_id``, ``actor``
and ``at`` are indexed for the audit's filters. ``<collection>_revisions``: each version of a
document, unique on ``(asset_id, n)``; the next ``n`` comes from an atomic ``$inc`` on the
asset's counter in ``<collection>_revision_numbers``, so racing writers never share a number.
MongoDB writes the change right after the document (not in one transaction: that needs a
replica set, which the registry does not require), so a process dying between the two can
lose one record.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from assets_registry.adapters.mongodb.store import MongoMetadataStore
from assets_registry.core.errors import BackendUnavailable, RevisionNotFound
from assets_registry.core.history import Change, Document, number_after

Stored = dict[str, Any]
_TRIES = 10


class MongoHistoryStore:
    """``core.history.HistoryStore`` on two MongoDB collections."""

    def __init__(self, url: str) -> None:
        self._connection = MongoMetadataStore(url)  # the client, its URL handling and error mapping
        database = self._connection.collection.database
        base = self._connection.target.collection
        self._changes: Collection[Stored] = database[f"{base}_changes"]
        self._revisions: Collection[Stored] = database[f"{base}_revisions"]
        self._counters: Collection[Stored] = database[f"{base}_revision_numbers"]
        self._indexed = False

    def _ready(self) -> None:
        if not self._indexed:
            for field in ("asset_id", "actor", "at"):
                self._changes.create_index([(field, pymongo.ASCENDING), ("_id", pymongo.ASCENDING)])
            self._revisions.create_index([("asset_id", pymongo.ASCENDING), ("n", pymongo.ASCENDING)], unique=True)
            self._indexed = True

    def append(self, change: Change, document: Document | None = None) -> None:
        with self._connection._guard():
            self._ready()
            key = f"{self._next_number('/changes'):020d}"  # a counter, not a clock: hosts' clocks differ
            self._changes.insert_one({"_id": key, **change.to_document()})
            if document is not None and change.asset_id is not None:
                self._keep(change, document)

    def _keep(self, change: Change, document: Document) -> None:
        n = self._next_number(str(change.asset_id))
        self._revisions.insert_one({"asset_id": change.asset_id, "n": n, "revision": change.revision_after,
                                    "at": change.at, "actor": change.actor, "document": document})  # fmt: skip

    def _next_number(self, asset_id: str) -> int:
        """The asset's next revision number: an atomic ``$inc`` on its counter, made first if new
        (two writers making it at once: one wins, the other's duplicate is harmless)."""
        for _ in range(_TRIES):
            with contextlib.suppress(DuplicateKeyError):
                self._counters.update_one({"_id": asset_id}, {"$setOnInsert": {"n": 0}}, upsert=True)
            counter = self._counters.find_one_and_update(
                {"_id": asset_id}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
            )
            if counter is not None:
                return int(counter["n"])
        raise BackendUnavailable("history", f"the revision counter of {asset_id!r} could not be advanced")

    def changes(
        self,
        limit: int,
        after: str | None = None,
        asset_id: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> tuple[list[Document], str | None]:
        number_after(after)  # refuses a cursor this registry did not hand out
        query: dict[str, Any] = {}
        if after is not None:
            query["_id"] = {"$gt": after}
        if asset_id is not None:
            query["asset_id"] = asset_id
        if actor is not None:
            query["actor"] = actor
        if since is not None or until is not None:
            query["at"] = {
                **({"$gte": since} if since is not None else {}),
                **({"$lt": until} if until is not None else {}),
            }
        with self._connection._guard():
            self._ready()
            rows = list(self._changes.find(query).sort("_id", pymongo.ASCENDING).limit(limit + 1))
        found = [{"id": row.pop("_id"), **row} for row in rows[:limit]]
        return found, (found[-1]["id"] if len(rows) > limit else None)

    def revisions(self, asset_id: str, limit: int, after: int | None = None) -> tuple[list[Document], int | None]:
        with self._connection._guard():
            self._ready()
            rows = list(
                self._revisions.find({"asset_id": asset_id, "n": {"$gt": after or 0}}, {"document": 0, "_id": 0})
                .sort("n", pymongo.ASCENDING)
                .limit(limit + 1)
            )
        found = [{"n": r["n"], "revision": r.get("revision"), "at": r["at"], "actor": r["actor"]} for r in rows[:limit]]
        return found, (found[-1]["n"] if len(rows) > limit else None)

    def revision(self, asset_id: str, n: int) -> Document:
        with self._connection._guard():
            self._ready()
            row = self._revisions.find_one({"asset_id": asset_id, "n": n})
        if row is None:
            raise RevisionNotFound(asset_id, n)
        return {"n": row["n"], "revision": row.get("revision"), "at": row["at"], "actor": row["actor"],
                "document": row["document"]}  # fmt: skip

    def prune(self, asset_id: str, keep: int, older_than: float | None) -> int:
        with self._connection._guard():
            self._ready()
            newest = self._revisions.find_one({"asset_id": asset_id}, sort=[("n", pymongo.DESCENDING)])
            if newest is None:
                return 0
            top = int(newest["n"])
            beyond: list[dict[str, Any]] = []
            if keep:
                beyond.append({"n": {"$lt": top - keep + 1}})
            if older_than is not None:
                beyond.append({"at": {"$lt": older_than}})
            if not beyond:
                return 0
            gone = self._revisions.delete_many({"asset_id": asset_id, "n": {"$lt": top}, "$or": beyond})
        return int(gone.deleted_count)

    def check(self) -> None:
        self._connection.check()

    def close(self) -> None:
        self._connection.close()
