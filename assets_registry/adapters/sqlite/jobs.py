"""The embedded job tracker: upload jobs in a SQLite file, handed to workers under leases.

Jobs live on disk, so a restart loses none. A job whose worker died (the process was killed,
the machine rebooted) keeps ``processing`` only until its lease runs out; then ``claim``
hands it to the next worker, counting the attempt.
Several processes on one host can share the file: every state change is one
``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec

from assets_registry.adapters.sqlite.connections import Connections
from assets_registry.core.errors import Conflict, JobNotFound
from assets_registry.core.ports import PROCESSING, QUEUED, UploadJob

_SCHEMA = """
CREATE TABLE IF NOT EXISTS upload_jobs (
    upload_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    staged_key TEXT NOT NULL,
    asset_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    progress TEXT,
    worker TEXT,
    lease_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS upload_jobs_open ON upload_jobs(created_at)
    WHERE status IN ('queued', 'processing');
"""
_COLUMNS = "upload_id, status, staged_key, asset_id, attempts, progress, created_at, updated_at"


class SqliteJobTracker:
    """``core.ports.JobTracker`` on one SQLite file."""

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.db = Connections(path, "job tracker", busy_timeout)
        with self.db.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def submit(self, upload_id: str, staged_key: str) -> UploadJob:
        now = time.time()
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO upload_jobs (upload_id, status, staged_key, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (upload_id, QUEUED, staged_key, now, now),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"An upload with the id {upload_id!r} already exists.") from None
        return UploadJob(upload_id, QUEUED, staged_key, created_at=now, updated_at=now)

    def get(self, upload_id: str) -> UploadJob:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM upload_jobs WHERE upload_id = ?", (upload_id,)).fetchone()
        if row is None:
            raise JobNotFound(upload_id)
        return _job(row)

    def claim(self, worker: str, lease_seconds: float) -> UploadJob | None:
        now = time.time()
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT upload_id FROM upload_jobs "
                "WHERE status = ? OR (status = ? AND lease_until < ?) ORDER BY created_at LIMIT 1",
                (QUEUED, PROCESSING, now),
            ).fetchone()
            if row is None:
                return None
            (upload_id,) = row
            conn.execute(
                "UPDATE upload_jobs SET status = ?, worker = ?, lease_until = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE upload_id = ?",
                (PROCESSING, worker, now + lease_seconds, now, upload_id),
            )
            claimed = conn.execute(f"SELECT {_COLUMNS} FROM upload_jobs WHERE upload_id = ?", (upload_id,)).fetchone()
            return _job(claimed)

    def renew(self, upload_id: str, worker: str, lease_seconds: float, progress: dict[str, Any] | None = None) -> bool:
        now = time.time()
        with self.db.write() as conn:
            held = conn.execute(
                "UPDATE upload_jobs SET lease_until = ?, updated_at = ?, progress = coalesce(?, progress) "
                "WHERE upload_id = ? AND worker = ? AND status = ?",
                (now + lease_seconds, now, _encode(progress), upload_id, worker, PROCESSING),
            ).rowcount
        return bool(held)

    def finish(self, upload_id: str, worker: str, status: str, asset_id: str | None = None) -> bool:
        with self.db.write() as conn:
            held = conn.execute(
                "UPDATE upload_jobs SET status = ?, asset_id = coalesce(?, asset_id), worker = NULL, "
                "lease_until = NULL, updated_at = ? WHERE upload_id = ? AND worker = ? AND status = ?",
                (status, asset_id, time.time(), upload_id, worker, PROCESSING),
            ).rowcount
        return bool(held)

    def open_jobs(self) -> dict[str, int]:
        counts = {QUEUED: 0, PROCESSING: 0}
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT status, COUNT(*) FROM upload_jobs WHERE status IN ('queued', 'processing') GROUP BY status"
            ).fetchall()
        counts.update({str(status): int(n) for status, n in rows})
        return counts

    def check(self) -> None:
        self.db.check()

    def close(self) -> None:
        self.db.close()


def _encode(progress: dict[str, Any] | None) -> str | None:
    return None if progress is None else msgspec.json.encode(progress).decode()


def _job(row: sqlite3.Row | tuple[Any, ...]) -> UploadJob:
    upload_id, status, staged_key, asset_id, attempts, progress, created_at, updated_at = row
    return UploadJob(
        upload_id=upload_id,
        status=status,
        staged_key=staged_key,
        asset_id=asset_id,
        attempts=attempts,
        progress=msgspec.json.decode(progress) if progress else None,
        created_at=created_at,
        updated_at=updated_at,
    )
