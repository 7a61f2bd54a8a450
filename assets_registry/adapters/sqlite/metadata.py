"""The embedded metadata store: asset documents in one SQLite file.

Documents are kept as JSON text, unique by ``asset_id``. The strings that the five lookups
read (``core.lookups``) are copied into ``asset_terms`` on every write, computed by
``core.document_paths.string_terms``, so a lookup is an index range scan that returns
exactly what evaluating its filter would. A search evaluates the filter in Python (the same
evaluator every store is measured against), over the candidates an index gives when the
filter requires an indexed value, or over all assets in id order otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from assets_registry.adapters.sqlite.connections import Connections
from assets_registry.adapters.sqlite.history import create_schema, write_change
from assets_registry.core import history
from assets_registry.core.document_paths import split_path, string_terms
from assets_registry.core.errors import AssetExists, AssetNotFound, RevisionMismatch
from assets_registry.core.filters import Filter
from assets_registry.core.lookups import Lookup, lookup_values
from assets_registry.core.ports import Document, Page, StoredAsset

INDEXED_PATHS = tuple(lookup.path for lookup in Lookup)
_SCAN_BATCH = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    id INTEGER PRIMARY KEY,
    asset_id TEXT NOT NULL UNIQUE,
    revision INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS asset_terms (
    path TEXT NOT NULL,
    value TEXT NOT NULL,
    asset_id TEXT NOT NULL REFERENCES assets(asset_id) ON DELETE CASCADE,
    PRIMARY KEY (path, value, asset_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS asset_terms_of_asset ON asset_terms(asset_id);
"""


class SqliteMetadataStore:
    """``core.ports.MetadataStore`` on one SQLite file."""

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.db = Connections(path, "metadata store", busy_timeout)
        with self.db.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            create_schema(conn)  # the audit trail shares the file, and each write's transaction

    # -- writes -------------------------------------------------------------------------

    def insert(self, document: Document) -> StoredAsset:
        asset_id = document["asset_id"]
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO assets (asset_id, revision, document) VALUES (?, 1, ?)",
                    (asset_id, _encode(document)),
                )
                self._index(conn, asset_id, document)
                _record(conn, None, 1)
        except sqlite3.IntegrityError:
            raise AssetExists(asset_id) from None
        return StoredAsset(document, 1)

    def update(self, asset_id: str, document: Document, expected_revision: int) -> StoredAsset:
        with self.db.write() as conn:
            changed = conn.execute(
                "UPDATE assets SET document = ?, revision = revision + 1 WHERE asset_id = ? AND revision = ?",
                (_encode(document), asset_id, expected_revision),
            ).rowcount
            if not changed:
                self._raise_missing_or_moved(conn, asset_id)
            conn.execute("DELETE FROM asset_terms WHERE asset_id = ?", (asset_id,))
            self._index(conn, asset_id, document)
            _record(conn, expected_revision, expected_revision + 1)
        return StoredAsset(document, expected_revision + 1)

    def delete(self, asset_id: str, expected_revision: int | None = None) -> None:
        with self.db.write() as conn:
            if expected_revision is None:
                row = conn.execute("SELECT revision FROM assets WHERE asset_id = ?", (asset_id,)).fetchone()
                gone = conn.execute("DELETE FROM assets WHERE asset_id = ?", (asset_id,)).rowcount
                expected_revision = row[0] if row else None
            else:
                gone = conn.execute(
                    "DELETE FROM assets WHERE asset_id = ? AND revision = ?", (asset_id, expected_revision)
                ).rowcount
            if not gone:
                self._raise_missing_or_moved(conn, asset_id)
            _record(conn, expected_revision, None)

    @staticmethod
    def _raise_missing_or_moved(conn: sqlite3.Connection, asset_id: str) -> None:
        if conn.execute("SELECT 1 FROM assets WHERE asset_id = ?", (asset_id,)).fetchone():
            raise RevisionMismatch(asset_id)
        raise AssetNotFound(asset_id)

    @staticmethod
    def _index(conn: sqlite3.Connection, asset_id: str, document: Document) -> None:
        rows = [(path, term, asset_id) for path in INDEXED_PATHS for term in string_terms(document, split_path(path))]
        conn.executemany("INSERT INTO asset_terms (path, value, asset_id) VALUES (?, ?, ?)", rows)

    # -- reads --------------------------------------------------------------------------

    def get(self, asset_id: str) -> StoredAsset:
        with self.db.read() as conn:
            row = conn.execute("SELECT revision, document FROM assets WHERE asset_id = ?", (asset_id,)).fetchone()
        if row is None:
            raise AssetNotFound(asset_id)
        return StoredAsset.from_json(row[1].encode(), row[0], asset_id)

    def find_by_type(self, asset_type: str, limit: int, after: str | None = None) -> Page:
        return self._lookup(Lookup.TYPE, asset_type, limit, after)

    def find_by_sub_type(self, sub_type: str, limit: int, after: str | None = None) -> Page:
        return self._lookup(Lookup.SUB_TYPE, sub_type, limit, after)

    def find_by_tag(self, tag: str, limit: int, after: str | None = None) -> Page:
        return self._lookup(Lookup.TAG, tag, limit, after)

    def find_by_api_route(self, route: str, limit: int, after: str | None = None) -> Page:
        return self._lookup(Lookup.API_ROUTE, route, limit, after)

    def _lookup(self, lookup: Lookup, value: str, limit: int, after: str | None) -> Page:
        source, params = _term_source(lookup.path, lookup_values(lookup, value))
        with self.db.read() as conn:
            rows = conn.execute(f"{source} ORDER BY asset_id LIMIT ?", (*params, after or "", limit + 1)).fetchall()
        return _page([_decode(doc) for _id, doc in rows], limit)

    def find(self, flt: Filter, limit: int, after: str | None = None) -> Page:
        found: list[Document] = []
        with self.db.read() as conn:
            for document in self._candidates(conn, flt, after):
                if flt.matches(document):
                    found.append(document)
                    if len(found) > limit:
                        break
        return _page(found, limit)

    def _candidates(self, conn: sqlite3.Connection, flt: Filter, after: str | None) -> Iterator[Document]:
        """Documents in id order that may match: narrowed by an index where the filter allows."""
        source, params = "SELECT asset_id, document FROM assets WHERE asset_id > ?", []
        for path, values in flt.required_terms:
            if path == "asset_id":
                marks = ",".join("?" * len(values))
                source = f"SELECT asset_id, document FROM assets WHERE asset_id IN ({marks}) AND asset_id > ?"
                params = sorted(values)
                break
            if path in INDEXED_PATHS:
                source, params = _term_source(path, sorted(values))
        last = after or ""
        while True:
            rows = conn.execute(f"{source} ORDER BY asset_id LIMIT ?", (*params, last, _SCAN_BATCH)).fetchall()
            for asset_id, document in rows:
                yield _decode(document)
                last = asset_id
            if len(rows) < _SCAN_BATCH:
                return

    # -- operations ---------------------------------------------------------------------

    def check(self) -> None:
        self.db.check()

    def close(self) -> None:
        self.db.close()


def _term_source(path: str, values: list[str]) -> tuple[str, list[str]]:
    """SQL selecting ``(asset_id, document)`` of assets holding one of ``values`` at ``path``.

    Its last parameter, left for the caller, is the ``after`` id. With one value the
    terms' primary key yields ids in order from ``after`` on, so a page costs its own size.
    """
    if len(values) == 1:
        return (
            "SELECT t.asset_id AS asset_id, a.document FROM asset_terms AS t "
            "JOIN assets AS a ON a.asset_id = t.asset_id "
            "WHERE t.path = ? AND t.value = ? AND t.asset_id > ?",
            [path, values[0]],
        )
    marks = ",".join("?" * len(values))
    return (
        "SELECT asset_id, document FROM assets WHERE asset_id IN "
        f"(SELECT asset_id FROM asset_terms WHERE path = ? AND value IN ({marks})) AND asset_id > ?",
        [path, *values],
    )


def _page(documents: list[Document], limit: int) -> Page:
    if len(documents) > limit:
        return Page(documents[:limit], next_after=documents[limit - 1]["asset_id"])
    return Page(documents)


def _encode(document: Document) -> str:
    return msgspec.json.encode(document).decode()


def _decode(text: str) -> Any:
    return msgspec.json.decode(text)


def _record(conn: sqlite3.Connection, before: int | None, after: int | None) -> None:
    """The change ``Registry`` holds pending for this write, in the write's own transaction."""
    note = history.pending()
    if note is not None and not note.taken:
        write_change(conn, note.take(before, after), note.document)
