"""The embedded metadata store: asset documents in one SQLite file.

Documents are kept as JSON text, unique by ``asset_id``. Every string, number and boolean of
every document is also a row of ``asset_index`` (``path, kind, value, asset_id``, from
``core.document_paths.scalar_terms``), written in the same transaction. The four lookups are
index range scans that return exactly what evaluating their filter would (the model fixes the
shape of their paths); a search runs as SQL over the index (``search_plan``) and every
candidate is then evaluated by the filter itself, so its answers are exactly the evaluator's.
A file made before the index (with the lookups' ``asset_terms``) is indexed when opened.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from assets_registry.adapters.sqlite import search_plan
from assets_registry.adapters.sqlite.connections import Connections
from assets_registry.adapters.sqlite.history import create_schema, write_change
from assets_registry.adapters.sqlite.search_plan import AnyOf, Condition, NoneOf, Term
from assets_registry.core import history
from assets_registry.core.document_paths import scalar_terms
from assets_registry.core.errors import AssetExists, AssetNotFound, RevisionMismatch
from assets_registry.core.filters import Filter
from assets_registry.core.lookups import Lookup, lookup_values
from assets_registry.core.ports import Document, Page, StoredAsset

_SCAN_BATCH = 256
_LOG = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    id INTEGER PRIMARY KEY,
    asset_id TEXT NOT NULL UNIQUE,
    revision INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS asset_index (
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    value NOT NULL,
    asset_id TEXT NOT NULL REFERENCES assets(asset_id) ON DELETE CASCADE,
    PRIMARY KEY (path, kind, value, asset_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS asset_index_of_asset ON asset_index(asset_id, path, kind, value);
"""


class SqliteMetadataStore:
    """``core.ports.MetadataStore`` on one SQLite file."""

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.db = Connections(path, "metadata store", busy_timeout, on_open=_add_functions)
        with self.db.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            create_schema(conn)  # the audit trail shares the file, and each write's transaction
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'asset_terms'").fetchone():
                self._index_all(conn)

    def _index_all(self, conn: sqlite3.Connection) -> None:
        """A file from before ``asset_index``: every asset indexed, the lookups' old table gone."""
        _LOG.info("indexing every asset of %s for search (once)", self.db.path)
        conn.execute("DELETE FROM asset_index")
        for asset_id, text in conn.execute("SELECT asset_id, document FROM assets").fetchall():
            self._index(conn, asset_id, _decode(text))
        conn.execute("DROP TABLE asset_terms")

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

    def insert_many(self, documents: list[Document]) -> None:
        """Store new assets in one transaction (bulk loads: benches, imports); no history is
        written, and one existing id refuses the whole batch (``AssetExists``)."""
        with self.db.write() as conn:
            for document in documents:
                asset_id = document["asset_id"]
                try:
                    conn.execute(
                        "INSERT INTO assets (asset_id, revision, document) VALUES (?, 1, ?)",
                        (asset_id, _encode(document)),
                    )
                except sqlite3.IntegrityError:
                    raise AssetExists(asset_id) from None
                self._index(conn, asset_id, document)

    def update(self, asset_id: str, document: Document, expected_revision: int) -> StoredAsset:
        with self.db.write() as conn:
            changed = conn.execute(
                "UPDATE assets SET document = ?, revision = revision + 1 WHERE asset_id = ? AND revision = ?",
                (_encode(document), asset_id, expected_revision),
            ).rowcount
            if not changed:
                self._raise_missing_or_moved(conn, asset_id)
            conn.execute("DELETE FROM asset_index WHERE asset_id = ?", (asset_id,))
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
        rows = [(path, kind, value, asset_id) for path, kind, value in scalar_terms(document)]
        conn.executemany("INSERT INTO asset_index (path, kind, value, asset_id) VALUES (?, ?, ?, ?)", rows)

    # -- reads --------------------------------------------------------------------------

    def get(self, asset_id: str) -> StoredAsset:
        row = self.db.read_one("SELECT revision, document FROM assets WHERE asset_id = ?", (asset_id,))
        if row is None:
            raise AssetNotFound(asset_id)
        revision, document = row
        assert isinstance(revision, int) and isinstance(document, str)
        return StoredAsset.from_json(document.encode(), revision, asset_id)

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
            for document in self._candidates(conn, search_plan.plan(flt.document), after, limit + 1):
                if flt.matches(document):
                    found.append(document)
                    if len(found) > limit:
                        break
        return _page(found, limit)

    def _candidates(
        self, conn: sqlite3.Connection, condition: Condition | None, after: str | None, wanted: int
    ) -> Iterator[Document]:
        """Documents in id order that may match: those the index says hold what it can check.
        The first batch is what a page needs (the index's candidates mostly match); later ones
        grow to ``_SCAN_BATCH``."""
        source, params = _candidate_source(conn, condition)
        last, batch = after or "", min(wanted, _SCAN_BATCH)
        while True:
            rows = conn.execute(source, (*params, last, batch)).fetchall()
            for asset_id, document in rows:
                yield _decode(document)
                last = asset_id
            if len(rows) < batch:
                return
            batch = _SCAN_BATCH

    # -- operations ---------------------------------------------------------------------

    def check(self) -> None:
        self.db.check()

    def close(self) -> None:
        self.db.close()


def _term_source(path: str, values: list[str]) -> tuple[str, list[str]]:
    """SQL selecting ``(asset_id, document)`` of assets holding one of the strings ``values`` at
    ``path``. Its last parameter, left for the caller, is the ``after`` id. With one value the
    index's primary key yields ids in order from ``after`` on, so a page costs its own size."""
    if len(values) == 1:
        return (
            "SELECT t.asset_id AS asset_id, a.document FROM asset_index AS t "
            "JOIN assets AS a ON a.asset_id = t.asset_id "
            "WHERE t.path = ? AND t.kind = 'string' AND t.value = ? AND t.asset_id > ?",
            [path, values[0]],
        )
    marks = ",".join("?" * len(values))
    return (
        "SELECT asset_id, document FROM assets WHERE asset_id IN "
        f"(SELECT asset_id FROM asset_index WHERE path = ? AND kind = 'string' AND value IN ({marks})) "
        "AND asset_id > ?",
        [path, *values],
    )


def _candidate_source(conn: sqlite3.Connection, condition: Condition | None) -> tuple[str, list[Any]]:
    """SQL selecting ``(asset_id, document)`` in id order of the assets whose terms hold what
    ``condition`` asks; its last two parameters, left for the caller: the ``after`` id, the batch.

    It drives from the equality with the fewest rows (in id order from the index's key); else
    from a range's or ``$in``'s matches if they are few, or a regex's if its path holds few
    strings (collected, then sorted); else it walks the assets in id order, so that a page of
    common matches ends early. The other conditions are ``EXISTS`` checks on each candidate.
    """
    if condition is None:
        return "SELECT asset_id, document FROM assets WHERE asset_id > ? ORDER BY asset_id LIMIT ?", []
    parts = search_plan.conjuncts(condition)
    equalities = [part for part in parts if isinstance(part, Term) and part.op == "="]
    if equalities:
        driver = equalities[0]
        if len(equalities) > 1:  # only then is there a choice to count for
            driver = min(equalities, key=lambda term: _rows_up_to(conn, term, search_plan.SMALL))
        rows, params = driver.rows("d")
        checks, check_params = _checks([part for part in parts if part is not driver])
        return (
            "SELECT d.asset_id, a.document FROM asset_index AS d JOIN assets AS a ON a.asset_id = d.asset_id "
            f"WHERE {rows}{checks} AND d.asset_id > ? ORDER BY d.asset_id LIMIT ?",
            params + check_params,
        )
    others = [part for part in parts if isinstance(part, Term)]
    few = next((term for term in others if _rows_up_to(conn, term, search_plan.SMALL) < search_plan.SMALL), None)
    if few is not None:
        driver = few
        rows, params = driver.rows("d")
        checks, check_params = _checks([part for part in parts if part is not driver])
        return (
            f"SELECT a.asset_id, a.document FROM assets AS a WHERE a.asset_id IN "
            f"(SELECT d.asset_id FROM asset_index AS d WHERE {rows}){checks} AND a.asset_id > ? "
            "ORDER BY a.asset_id LIMIT ?",
            params + check_params,
        )
    excluded = next((part for part in parts if _excludes_many(conn, part)), None)
    if isinstance(excluded, NoneOf):
        rows, params = _any_rows(excluded.condition)
        checks, check_params = _checks([part for part in parts if part is not excluded])
        return (
            "SELECT a.asset_id, a.document FROM assets AS a WHERE a.asset_id IN "
            f"(SELECT asset_id FROM assets EXCEPT SELECT d.asset_id FROM asset_index AS d WHERE {rows}){checks} "
            "AND a.asset_id > ? ORDER BY a.asset_id LIMIT ?",
            params + check_params,
        )
    checks, check_params = _checks(parts)
    return (
        f"SELECT a.asset_id, a.document FROM assets AS a WHERE 1{checks} AND a.asset_id > ? "
        "ORDER BY a.asset_id LIMIT ?",
        check_params,
    )


def _any_rows(condition: Condition) -> tuple[str, list[Any]]:
    """SQL over ``asset_index AS d``: rows of any of the terms (a term, or an ``AnyOf`` of terms)."""
    terms = [condition] if isinstance(condition, Term) else list(getattr(condition, "branches", ()))
    pieces = [term.rows("d") for term in terms]
    return "(" + " OR ".join(sql for sql, _ in pieces) + ")", [p for _, params in pieces for p in params]


def _excludes_many(conn: sqlite3.Connection, part: Condition) -> bool:
    """A negation of terms (``$ne``, ``$nin``) that many assets hold: its answer is found faster as
    every asset but those (one ``EXCEPT``, 25 ms per 100,000) than by checking asset after asset
    (120 ms when few or none answer). When few hold them, nearly every asset answers, and the
    walk finds a page at once."""
    if not isinstance(part, NoneOf):
        return False
    inner = part.condition
    terms = [inner] if isinstance(inner, Term) else list(inner.branches) if isinstance(inner, AnyOf) else []
    if not terms or not all(isinstance(term, Term) for term in terms):
        return False
    held = 0
    for term in terms:
        assert isinstance(term, Term)
        held += _rows_up_to(conn, term, search_plan.SMALL - held)
        if held >= search_plan.SMALL:
            return True
    return False


def _checks(parts: list[Condition]) -> tuple[str, list[Any]]:
    pieces = [search_plan.exists(part) for part in parts]
    return "".join(f" AND {sql}" for sql, _ in pieces), [p for _, params in pieces for p in params]


def _rows_up_to(conn: sqlite3.Connection, term: Term, cap: int) -> int:
    """How many index rows hold ``term``'s values, counted up to ``cap`` (a cheap estimate); for
    a regex, how many strings it must be tried on (those its text and prefix let through)."""
    rows, params = term.rows(tried=True)
    counted = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM asset_index AS t WHERE {rows} LIMIT ?)", (*params, cap)
    )
    return int(counted.fetchone()[0])


def _add_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("regex_matches", 3, search_plan.regex_matches, deterministic=True)


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
