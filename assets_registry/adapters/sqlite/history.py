"""The embedded audit trail and revision history, in the asset documents' own SQLite file.

Two tables beside ``assets``: ``history_changes`` (append-only, ``id`` in the order changes
were made) and ``history_revisions`` (each version of a document, ``n`` per asset id). Being
in the same file, ``SqliteMetadataStore`` writes an asset's change in the same transaction as
the document (``write_change``, called with its connection), so there is no change without
its record.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from assets_registry.adapters.sqlite.connections import Connections
from assets_registry.core.errors import RevisionNotFound
from assets_registry.core.history import Change, Document, number_after

SCHEMA = """
CREATE TABLE IF NOT EXISTS history_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    asset_id TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_changes_of_asset ON history_changes(asset_id, id);
CREATE INDEX IF NOT EXISTS history_changes_of_actor ON history_changes(actor, id);
CREATE TABLE IF NOT EXISTS history_revisions (
    asset_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    revision INTEGER,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (asset_id, n)
) WITHOUT ROWID
"""


def create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def write_change(conn: sqlite3.Connection, change: Change, document: Document | None) -> None:
    """Append ``change`` (and keep ``document`` as the asset's next revision) in ``conn``'s transaction."""
    conn.execute(
        "INSERT INTO history_changes (at, actor, asset_id, doc) VALUES (?, ?, ?, ?)",
        (change.at, change.actor, change.asset_id, msgspec.json.encode(change.to_document()).decode()),
    )
    if document is not None and change.asset_id is not None:
        conn.execute(
            "INSERT INTO history_revisions (asset_id, n, revision, at, actor, document) "
            "SELECT ?, COALESCE(MAX(n), 0) + 1, ?, ?, ?, ? FROM history_revisions WHERE asset_id = ?",
            (change.asset_id, change.revision_after, change.at, change.actor,
             msgspec.json.encode(document).decode(), change.asset_id),
        )  # fmt: skip


class SqliteHistoryStore:
    """``core.history.HistoryStore`` in the metadata store's SQLite file."""

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.db = Connections(path, "history", busy_timeout)
        with self.db.write() as conn:
            create_schema(conn)

    def append(self, change: Change, document: Document | None = None) -> None:
        with self.db.write() as conn:
            write_change(conn, change, document)

    def changes(
        self,
        limit: int,
        after: str | None = None,
        asset_id: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> tuple[list[Document], str | None]:
        where: list[str] = ["id > ?"]
        args: list[int | float | str] = [number_after(after) or 0]
        for column, value, test in (("asset_id", asset_id, "="), ("actor", actor, "="), ("at", since, ">="),
                                    ("at", until, "<")):  # fmt: skip
            if value is not None:
                where.append(f"{column} {test} ?")
                args.append(value)
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT id, doc FROM history_changes WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        found = [{"id": str(row[0]), **msgspec.json.decode(row[1])} for row in rows[:limit]]
        return found, (found[-1]["id"] if len(rows) > limit else None)

    def revisions(self, asset_id: str, limit: int, after: int | None = None) -> tuple[list[Document], int | None]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT n, revision, at, actor FROM history_revisions WHERE asset_id = ? AND n > ? ORDER BY n LIMIT ?",
                (asset_id, after or 0, limit + 1),
            ).fetchall()
        found = [{"n": r[0], "revision": r[1], "at": r[2], "actor": r[3]} for r in rows[:limit]]
        return found, (found[-1]["n"] if len(rows) > limit else None)

    def revision(self, asset_id: str, n: int) -> Document:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT n, revision, at, actor, document FROM history_revisions WHERE asset_id = ? AND n = ?",
                (asset_id, n),
            ).fetchone()
        if row is None:
            raise RevisionNotFound(asset_id, n)
        return {"n": row[0], "revision": row[1], "at": row[2], "actor": row[3], "document": msgspec.json.decode(row[4])}

    def prune(self, asset_id: str, keep: int, older_than: float | None) -> int:
        with self.db.write() as conn:
            newest = conn.execute("SELECT MAX(n) FROM history_revisions WHERE asset_id = ?", (asset_id,)).fetchone()[0]
            if newest is None:
                return 0
            floor = newest - keep + 1 if keep else 1
            gone = conn.execute(
                "DELETE FROM history_revisions WHERE asset_id = ? AND n < ? AND (n < ? OR at < ?)",
                (asset_id, newest, floor, -1.0 if older_than is None else older_than),
            ).rowcount
        return int(gone)

    def check(self) -> None:
        self.db.check()

    def close(self) -> None:
        self.db.close()


__all__: list[Any] = ["SqliteHistoryStore", "create_schema", "write_change"]
