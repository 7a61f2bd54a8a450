"""The embedded catalog: the Asset Store's buckets and sources in a SQLite file.

One table per kind, a row per record: its key, version, JSON document, and the two indexed
fields of ``CatalogStore`` (``bucket``, ``due``) as columns copied out of the document on
every write, so the controllers' questions are index scans. Several processes share the
file (``BEGIN IMMEDIATE`` writes, as the other SQLite adapters).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from assets_registry.adapters.sqlite.connections import Connections
from assets_registry.core.errors import RecordChanged, RecordExists, RecordNotFound
from assets_registry.core.ports import CatalogKind, CatalogRecord, Document

KINDS: tuple[CatalogKind, ...] = ("buckets", "sources", "tokens")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog_{kind} (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    bucket TEXT,
    due REAL
);
CREATE INDEX IF NOT EXISTS catalog_{kind}_bucket ON catalog_{kind}(bucket, key);
CREATE INDEX IF NOT EXISTS catalog_{kind}_due ON catalog_{kind}(due) WHERE due IS NOT NULL
"""


class SqliteCatalogStore:
    """``core.ports.CatalogStore`` on one SQLite file."""

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.db = Connections(path, "catalog", busy_timeout)
        with self.db.write() as conn:
            for kind in KINDS:
                for statement in _SCHEMA.format(kind=kind).split(";"):
                    if statement.strip():
                        conn.execute(statement)

    def get(self, kind: CatalogKind, key: str) -> CatalogRecord:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT key, version, doc FROM {_table(kind)} WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise RecordNotFound(kind, key)
        return _record(row)

    def insert(self, kind: CatalogKind, key: str, document: Document) -> CatalogRecord:
        try:
            with self.db.write() as conn:
                conn.execute(
                    f"INSERT INTO {_table(kind)} (key, version, doc, bucket, due) VALUES (?, 1, ?, ?, ?)",
                    (key, *_columns(document)),
                )
        except sqlite3.IntegrityError:
            raise RecordExists(kind, key) from None
        return CatalogRecord(key, document, 1)

    def replace(self, kind: CatalogKind, key: str, document: Document, expected_version: int) -> CatalogRecord:
        with self.db.write() as conn:
            changed = conn.execute(
                f"UPDATE {_table(kind)} SET version = version + 1, doc = ?, bucket = ?, due = ? "
                "WHERE key = ? AND version = ?",
                (*_columns(document), key, expected_version),
            ).rowcount
            if not changed:
                self._raise_missing_or_changed(conn, kind, key)
        return CatalogRecord(key, document, expected_version + 1)

    def delete(self, kind: CatalogKind, key: str, expected_version: int | None = None) -> None:
        with self.db.write() as conn:
            if expected_version is None:
                gone = conn.execute(f"DELETE FROM {_table(kind)} WHERE key = ?", (key,)).rowcount
            else:
                gone = conn.execute(
                    f"DELETE FROM {_table(kind)} WHERE key = ? AND version = ?", (key, expected_version)
                ).rowcount
            if not gone:
                self._raise_missing_or_changed(conn, kind, key)

    @staticmethod
    def _raise_missing_or_changed(conn: sqlite3.Connection, kind: CatalogKind, key: str) -> None:
        if conn.execute(f"SELECT 1 FROM {_table(kind)} WHERE key = ?", (key,)).fetchone():
            raise RecordChanged(kind, key)
        raise RecordNotFound(kind, key)

    def records(
        self, kind: CatalogKind, limit: int, after: str | None = None, bucket: str | None = None
    ) -> list[CatalogRecord]:
        query = f"SELECT key, version, doc FROM {_table(kind)} WHERE key > ?"
        args: list[Any] = [after or ""]
        if bucket is not None:
            query += " AND bucket = ?"
            args.append(bucket)
        with self.db.read() as conn:
            rows = conn.execute(query + " ORDER BY key LIMIT ?", (*args, limit)).fetchall()
        return [_record(row) for row in rows]

    def due(self, kind: CatalogKind, now: float, limit: int) -> list[CatalogRecord]:
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT key, version, doc FROM {_table(kind)} WHERE due IS NOT NULL AND due <= ? ORDER BY due LIMIT ?",
                (now, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def check(self) -> None:
        self.db.check()

    def close(self) -> None:
        self.db.close()


def _table(kind: CatalogKind) -> str:
    if kind not in KINDS:  # table names cannot be bound parameters: only these two exist
        raise ValueError(f"no catalog of {kind!r}")
    return f"catalog_{kind}"


def _columns(document: Document) -> tuple[str, str | None, float | None]:
    bucket, due = document.get("bucket"), document.get("due")
    return (
        msgspec.json.encode(document).decode(),
        bucket if isinstance(bucket, str) else None,
        float(due) if isinstance(due, int | float) else None,
    )


def _record(row: tuple[Any, ...]) -> CatalogRecord:
    key, version, doc = row
    return CatalogRecord(key, msgspec.json.decode(doc), version)
