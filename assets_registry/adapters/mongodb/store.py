"""The MongoDB metadata store: one record per asset, ``{"_id": asset_id, "revision": n, "doc": {...}}``.

Why this layout: ``_id`` carries the asset id, so the collection's own unique ``_id`` index
makes ids unique (a racing second insert gets ``DuplicateKeyError``) and lists come in id
order from it, paged by ``{"_id": {"$gt": after}}``. No unique index is put on
``doc.asset_id``: SecantusDB answers a case-insensitive ``$regex`` on a uniquely indexed field
with nothing. The document is kept whole under ``doc`` (BSON keeps key order; numbers keep
their type), so user filters, translated by ``queries.to_stored_paths``, never see ``_id``
or ``revision``. The four lookups scan compound ``(doc.<path>, _id)`` indexes, made on first
use; planners pick them unhinted (SecantusDB answers a hinted lookup 50 times slower: 150 ms
instead of 3 for 50 answers of 5,000), and the URL option ``lookup_hints=true`` hints them for
a server whose planner does not.

Every driver error that means "the server is not answering" becomes ``BackendUnavailable``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymongo
from bson.codec_options import CodecOptions, TypeDecoder, TypeRegistry
from bson.errors import InvalidDocument
from bson.int64 import Int64
from pymongo.collection import Collection
from pymongo.cursor import Cursor
from pymongo.errors import ConfigurationError as PyMongoConfigurationError
from pymongo.errors import (
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    InvalidName,
    OperationFailure,
    PyMongoError,
)

from assets_registry.adapters.mongodb.queries import LOOKUP_INDEXES, lookup_query, search_query
from assets_registry.adapters.mongodb.uri import DEFAULT_DATABASE, MongoTarget, parse_target
from assets_registry.core.errors import (
    AssetExists,
    AssetNotFound,
    BackendUnavailable,
    ConfigurationError,
    InvalidFilter,
    InvalidInput,
    RevisionMismatch,
)
from assets_registry.core.filters import Filter
from assets_registry.core.lookups import Lookup
from assets_registry.core.ports import Document, Page, StoredAsset

BACKEND = "metadata store (MongoDB)"
Record = dict[str, Any]

# Server answers that mean "not now" rather than "never": auth refused (the operator's
# setup, not the request), primary gone or stepping down, shutdown, timeouts.
_UNAVAILABLE_CODES = frozenset(
    {6, 7, 13, 18, 50, 64, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)  # fmt: skip
_SAME_KEYS_OTHER_INDEX = frozenset({85, 86})  # IndexOptionsConflict, IndexKeySpecsConflict
_TIMEOUTS_NOTE = re.compile(r" \(configured timeouts: [^)]*\)")
# A query the server refuses (bad value, bad regular expression): the client's filter.
_BAD_QUERY_CODES = frozenset({2, 9, 51091, 51108})


class _PlainInt64(TypeDecoder):
    """Decode BSON int64 as a plain ``int``: pymongo's ``Int64`` subclass is not JSON to msgspec."""

    bson_type = Int64

    def transform_bson(self, value: Any) -> int:
        return int(value)


CODEC_OPTIONS: CodecOptions[Record] = CodecOptions(document_class=dict, type_registry=TypeRegistry([_PlainInt64()]))
"""Documents come back as plain dicts (in stored key order) of plain JSON values."""


class MongoMetadataStore:
    """``core.ports.MetadataStore`` on one MongoDB collection."""

    def __init__(self, url: str) -> None:
        self.target: MongoTarget = parse_target(url)
        try:
            # connect=False: no thread or socket (nor SRV lookup) before the first request, so
            # building the store never waits and never crosses a fork() (gunicorn --preload).
            self.client: pymongo.MongoClient[Record] = pymongo.MongoClient(
                self.target.client_uri, connect=False, **self.target.client_options
            )
            database = self.client.get_default_database(DEFAULT_DATABASE, codec_options=CODEC_OPTIONS)
            self.collection: Collection[Record] = database[self.target.collection]
        except InvalidName as exc:
            raise ConfigurationError(f"The MongoDB URL names an invalid database or collection: {exc}") from None
        except (PyMongoError, ValueError) as exc:
            raise ConfigurationError(f"The MongoDB URL cannot be used: {self.target.scrub(str(exc))}") from None
        self._indexed = False
        self._index_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MongoMetadataStore({self.collection.full_name})"

    # -- connection ---------------------------------------------------------------------

    @contextmanager
    def _talking(self) -> Iterator[Collection[Record]]:
        """The collection, its indexes made on first use; driver errors become domain errors.

        Indexes are made lazily (and retried until they are made) so that a registry whose
        database is down still starts, and answers 503 until the database is back.
        """
        with self._guard():
            if not self._indexed:
                with self._index_lock:
                    if not self._indexed:
                        self._create_indexes()
                        self._indexed = True
            yield self.collection

    def _create_indexes(self) -> None:
        """The lookup indexes; idempotent. One the operator made with the same keys serves as well."""
        for keys in LOOKUP_INDEXES.values():
            try:
                self.collection.create_index(keys)
            except OperationFailure as exc:
                if exc.code not in _SAME_KEYS_OTHER_INDEX:
                    raise

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Driver errors as domain errors: ``BackendUnavailable`` when the server is not answering."""
        try:
            yield
        except (InvalidDocument, DocumentTooLarge) as exc:
            raise InvalidInput(f"The asset cannot be stored in MongoDB: {exc}") from None
        except ConnectionFailure as exc:
            raise self._unavailable(exc) from None
        except OperationFailure as exc:
            if exc.code in _UNAVAILABLE_CODES or exc.timeout:
                raise self._unavailable(exc) from None
            raise
        except PyMongoError as exc:
            # A ConfigurationError here comes from finding the servers (an SRV name that
            # does not resolve now), not from the URL's syntax, checked when the store was built.
            if exc.timeout or isinstance(exc, PyMongoConfigurationError):
                raise self._unavailable(exc) from None
            raise

    def _unavailable(self, exc: PyMongoError) -> BackendUnavailable:
        message = str(exc).split(", Timeout:")[0].split(", Topology Description:")[0]
        message = _TIMEOUTS_NOTE.sub("", message)
        detail = self.target.scrub(f"{type(exc).__name__}: {message}")
        return BackendUnavailable(BACKEND, detail if len(detail) <= 300 else detail[:297] + "...")

    # -- writes -------------------------------------------------------------------------

    def insert(self, document: Document) -> StoredAsset:
        asset_id = document["asset_id"]
        with self._talking() as assets:
            try:
                assets.insert_one({"_id": asset_id, "revision": 1, "doc": document})
            except DuplicateKeyError:
                raise AssetExists(asset_id) from None
        return StoredAsset(document, 1)

    def update(self, asset_id: str, document: Document, expected_revision: int) -> StoredAsset:
        revision = expected_revision + 1
        with self._talking() as assets:
            replaced = assets.replace_one(
                {"_id": asset_id, "revision": expected_revision},
                {"_id": asset_id, "revision": revision, "doc": document},
            )
            if not replaced.matched_count:
                self._raise_missing_or_moved(assets, asset_id)
        return StoredAsset(document, revision)

    def delete(self, asset_id: str, expected_revision: int | None = None) -> None:
        condition: Record = {"_id": asset_id}
        if expected_revision is not None:
            condition["revision"] = expected_revision
        with self._talking() as assets:
            if not assets.delete_one(condition).deleted_count:
                self._raise_missing_or_moved(assets, asset_id)

    @staticmethod
    def _raise_missing_or_moved(assets: Collection[Record], asset_id: str) -> None:
        if assets.find_one({"_id": asset_id}, projection={"_id": 1}) is not None:
            raise RevisionMismatch(asset_id)
        raise AssetNotFound(asset_id)

    # -- reads --------------------------------------------------------------------------

    def get(self, asset_id: str) -> StoredAsset:
        with self._talking() as assets:
            record = assets.find_one({"_id": asset_id})
        if record is None:
            raise AssetNotFound(asset_id)
        return StoredAsset(record["doc"], record["revision"])

    def find(self, flt: Filter, limit: int, after: str | None = None) -> Page:
        with self._talking() as assets:
            cursor = assets.find(search_query(flt.document, after), projection={"doc": 1})
            try:
                return _page(cursor.sort("_id", pymongo.ASCENDING).limit(limit + 1), limit)
            except OperationFailure as exc:
                if exc.code in _BAD_QUERY_CODES:
                    reason = (exc.details or {}).get("errmsg") or str(exc)
                    raise InvalidFilter("", f"MongoDB refused it ({reason})") from None
                raise

    def find_by_type(self, asset_type: str, limit: int, after: str | None = None) -> Page:
        return self._lookup(Lookup.TYPE, asset_type, limit, after)

    def find_by_sub_type(self, sub_type: str, limit: int, after: str | None = None) -> Page:
        return self._lookup(Lookup.SUB_TYPE, sub_type, limit, after)

    def find_by_tag(self, tag: str, limit: int, after: str | None = None) -> Page:
        return self._lookup(Lookup.TAG, tag, limit, after)

    def find_by_api_route(self, route: str, limit: int, after: str | None = None) -> Page:
        return self._lookup(Lookup.API_ROUTE, route, limit, after)

    def _lookup(self, lookup: Lookup, value: str, limit: int, after: str | None) -> Page:
        with self._talking():
            return _page(self.lookup_cursor(lookup, value, limit, after), limit)

    def lookup_cursor(self, lookup: Lookup, value: str, limit: int, after: str | None = None) -> Cursor[Record]:
        """The cursor a lookup page reads (tests ``explain()`` it): the planner picks its compound
        index, or with ``lookup_hints`` it is told to."""
        cursor = self.collection.find(lookup_query(lookup, value, after), projection={"doc": 1})
        if self.target.lookup_hints:
            cursor = cursor.hint(LOOKUP_INDEXES[lookup])
        return cursor.sort("_id", pymongo.ASCENDING).limit(limit + 1)

    # -- operations ---------------------------------------------------------------------

    def check(self) -> None:
        with self._guard():
            self.client.admin.command("ping")

    def close(self) -> None:
        self.client.close()


def _page(cursor: Cursor[Record], limit: int) -> Page:
    documents: list[Document] = [record["doc"] for record in cursor]
    if len(documents) > limit:
        return Page(documents[:limit], next_after=documents[limit - 1]["asset_id"])
    return Page(documents)
