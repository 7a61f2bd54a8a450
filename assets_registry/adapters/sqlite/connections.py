"""SQLite connections that are safe with many threads and several processes.

One connection per thread (sqlite3 connections must not be shared across threads), made
again after a fork, in WAL mode so readers never
block the writer, with a busy timeout so that concurrent writers from other processes wait
for the lock instead of failing. Writes use ``BEGIN IMMEDIATE`` so two writers never both
hold a read lock and deadlock on the upgrade.

A connection must never cross ``fork()``, and neither may it be *closed* in the child:
SQLite locks with POSIX advisory locks, and closing any descriptor of a file drops every
lock the process holds on it. A child that closed (or let the garbage collector close) a
connection inherited from its parent would silently drop the locks of its own connections,
and two processes would write at once (seen: lost updates between forked workers). So a
forked child keeps every inherited connection open, untouched, for its whole life.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from assets_registry.core.errors import BackendUnavailable

_LIVE: weakref.WeakSet[Connections] = weakref.WeakSet()
_INHERITED: list[sqlite3.Connection] = []
"""Connections a forked child inherited: kept referenced, so that they are never closed."""


class Connections:
    """Per-thread connections to one SQLite database file."""

    def __init__(
        self,
        path: Path,
        backend: str,
        busy_timeout: float = 30.0,
        on_open: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = path
        self.backend = backend
        self.busy_timeout = busy_timeout
        self.on_open = on_open  # what each new connection needs (SQL functions)
        self._local = threading.local()
        self._all: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        _LIVE.add(self)

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            if self.on_open is not None:
                self.on_open(conn)
        except sqlite3.Error as exc:
            raise self.unavailable(exc) from exc
        with self._lock:
            self._prune()
            self._all.append((weakref.ref(threading.current_thread()), conn))
        return conn

    def _prune(self) -> None:
        """Close the connections of threads that have ended (thread pools come and go)."""
        alive = []
        for ref, conn in self._all:
            thread = ref()
            if thread is not None and thread.is_alive():
                alive.append((ref, conn))
            else:
                conn.close()
        self._all = alive

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (``BEGIN IMMEDIATE``), committed on success.

        A locked or failing database (``OperationalError``) becomes ``BackendUnavailable``;
        constraint errors (``IntegrityError``) reach the caller, which knows what they mean.
        """
        conn = self.get()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.rollback()
            raise self.unavailable(exc) from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several statements."""
        conn = self.get()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.rollback()
        except sqlite3.OperationalError as exc:
            raise self.unavailable(exc) from exc

    def read_one(self, sql: str, params: tuple[object, ...]) -> tuple[object, ...] | None:
        """One row of one statement: a statement alone is atomic, so no transaction is opened
        (by-id lookups are the hottest path; this saves two round trips into SQLite)."""
        try:
            row: tuple[object, ...] | None = self.get().execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            raise self.unavailable(exc) from exc
        return row

    def unavailable(self, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(self.backend, f"SQLite at {self.path}: {exc}")

    def check(self) -> None:
        try:
            self.get().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise self.unavailable(exc) from exc

    def _leave_to_parent(self) -> None:
        """In a forked child: set the parent's connections aside for good, start afresh."""
        _INHERITED.extend(conn for _ref, conn in self._all)
        self._all = []
        self._local = threading.local()
        self._lock = threading.Lock()  # another thread may have held it at the fork

    def close(self) -> None:
        with self._lock:
            for _ref, conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _after_fork_in_child() -> None:
    for connections in list(_LIVE):
        connections._leave_to_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)
