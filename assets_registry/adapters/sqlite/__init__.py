"""The ``sqlite`` plugin: the embedded metadata store and job tracker, both on SQLite files."""

from __future__ import annotations

from assets_registry.adapters.sqlite.catalog import SqliteCatalogStore
from assets_registry.adapters.sqlite.history import SqliteHistoryStore
from assets_registry.adapters.sqlite.jobs import SqliteJobTracker
from assets_registry.adapters.sqlite.metadata import SqliteMetadataStore
from assets_registry.plugins import AdapterContext, AdapterSpec, hookimpl

__all__ = ["SqliteCatalogStore", "SqliteHistoryStore", "SqliteJobTracker", "SqliteMetadataStore"]


def make_metadata_store(context: AdapterContext) -> SqliteMetadataStore:
    timeout = float(context.url.option("busy_timeout", "30") or 30)
    return SqliteMetadataStore(context.url.local_path(context.data_dir / "registry.db"), busy_timeout=timeout)


def make_catalog_store(context: AdapterContext) -> SqliteCatalogStore:
    """Beside the asset documents: ``sqlite:///x/registry.db`` keeps its catalog in ``x/catalog.db``."""
    timeout = float(context.url.option("busy_timeout", "30") or 30)
    documents = context.url.local_path(context.data_dir / "registry.db")
    return SqliteCatalogStore(documents.with_name("catalog.db"), busy_timeout=timeout)


def make_history_store(context: AdapterContext) -> SqliteHistoryStore:
    """In the asset documents' own file, so that a change is written in its document's transaction."""
    timeout = float(context.url.option("busy_timeout", "30") or 30)
    return SqliteHistoryStore(context.url.local_path(context.data_dir / "registry.db"), busy_timeout=timeout)


def make_job_tracker(context: AdapterContext) -> SqliteJobTracker:
    timeout = float(context.url.option("busy_timeout", "30") or 30)
    return SqliteJobTracker(context.url.local_path(context.data_dir / "jobs.db"), busy_timeout=timeout)


_BUSY = {"busy_timeout": "seconds a writer waits for another process's lock (default 30)"}


@hookimpl
def assets_registry_adapters() -> list[AdapterSpec]:
    return [
        AdapterSpec(
            port="metadata",
            scheme="sqlite",
            factory=make_metadata_store,
            summary="Asset documents in one SQLite file (sqlite:///abs/path.db; sqlite:// = <data dir>/registry.db).",
            options=_BUSY,
        ),
        AdapterSpec(
            port="catalog",
            scheme="sqlite",
            factory=make_catalog_store,
            summary="Buckets and sources in a SQLite file beside the asset documents' (catalog.db).",
            options=_BUSY,
        ),
        AdapterSpec(
            port="history",
            scheme="sqlite",
            factory=make_history_store,
            summary="The audit trail and revision history in the asset documents' SQLite file (same transactions).",
            options=_BUSY,
        ),
        AdapterSpec(
            port="jobs",
            scheme="local",
            factory=make_job_tracker,
            summary="Upload jobs in a SQLite file, run by worker threads of the server "
            "(local:///abs/jobs.db; local:// = <data dir>/jobs.db).",
            options=_BUSY,
        ),
    ]
