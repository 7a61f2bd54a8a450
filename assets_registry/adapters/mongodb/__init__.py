"""The ``mongodb`` plugin: asset documents in a MongoDB collection (``mongodb://``, ``mongodb+srv://``).

This module imports without pymongo, so ``assets-registry plugins`` can list the adapter
(and the registry can run on SQLite) when the ``mongodb`` extra is not installed; pymongo is
imported when a store is built, and its absence is then a configuration error that says
what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assets_registry.adapters.mongodb.uri import OPTIONS
from assets_registry.core.errors import ConfigurationError
from assets_registry.plugins import AdapterContext, AdapterSpec, hookimpl

if TYPE_CHECKING:
    from assets_registry.adapters.mongodb.catalog import MongoCatalogStore
    from assets_registry.adapters.mongodb.history import MongoHistoryStore
    from assets_registry.adapters.mongodb.store import MongoMetadataStore

SUMMARIES = {
    "mongodb": "Asset documents in a MongoDB collection "
    "(mongodb://user:pass@db1,db2/database?replicaSet=rs0; any MongoDB connection string).",
    "mongodb+srv": "Asset documents in a MongoDB collection, servers found through DNS "
    "(mongodb+srv://user:pass@cluster.example.net/database).",
}


def make_metadata_store(context: AdapterContext) -> MongoMetadataStore:
    try:
        from assets_registry.adapters.mongodb.store import MongoMetadataStore
    except ImportError as exc:
        raise _without_pymongo(exc, context, "metadata store") from None
    return MongoMetadataStore(context.url.raw)


def make_catalog_store(context: AdapterContext) -> MongoCatalogStore:
    try:
        from assets_registry.adapters.mongodb.catalog import MongoCatalogStore
    except ImportError as exc:
        raise _without_pymongo(exc, context, "catalog") from None
    return MongoCatalogStore(context.url.raw)


def make_history_store(context: AdapterContext) -> MongoHistoryStore:
    try:
        from assets_registry.adapters.mongodb.history import MongoHistoryStore
    except ImportError as exc:
        raise _without_pymongo(exc, context, "history") from None
    return MongoHistoryStore(context.url.raw)


def _without_pymongo(exc: ImportError, context: AdapterContext, what: str) -> Exception:
    if (exc.name or "").partition(".")[0] not in ("pymongo", "bson"):
        return exc
    return ConfigurationError(
        f"The {context.url.scheme}:// {what} needs pymongo: pip install 'assets-registry[mongodb]'."
    )


@hookimpl
def assets_registry_adapters() -> list[AdapterSpec]:
    return (
        [
            AdapterSpec(
                port="metadata",
                scheme=scheme,
                factory=make_metadata_store,
                summary=summary,
                options=OPTIONS,
            )
            for scheme, summary in SUMMARIES.items()
        ]
        + [
            AdapterSpec(
                port="catalog",
                scheme=scheme,
                factory=make_catalog_store,
                summary="Buckets and sources in two collections beside the asset documents' "
                "(<collection>_buckets, <collection>_sources).",
                options=OPTIONS,
            )
            for scheme in SUMMARIES
        ]
        + [
            AdapterSpec(
                port="history",
                scheme=scheme,
                factory=make_history_store,
                summary="The audit trail and revision history in two collections beside the asset documents' "
                "(<collection>_changes, <collection>_revisions).",
                options=OPTIONS,
            )
            for scheme in SUMMARIES
        ]
    )
