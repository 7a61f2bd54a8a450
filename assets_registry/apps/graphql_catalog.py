"""GraphQL read fields of the Asset Store: ``bucket``, ``buckets``, ``source`` and ``sources``.

They answer what ``GET /buckets`` and ``GET /sources`` answer (``core.sources.AssetStore``),
with camelCase names: a bucket's ``status`` and a source's spec and ``status`` (phase, reason,
message, ...) are typed objects; a source's ``asset`` and ``parameters`` and its status'
``files`` are ``JSON``, as the asset's nested documents are. Lists are pages
(``{ items nextCursor }``) with the REST cursors; an unknown name or id is null, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
)

from assets_registry.core import access, history
from assets_registry.core.errors import RecordNotFound, RegistryError
from assets_registry.core.history import HistoryStore
from assets_registry.core.pagination import decode_cursor, encode_cursor
from assets_registry.core.sources import AssetStore

__all__ = ["catalog_fields"]


class NoAssetStore(RegistryError):
    """The GraphQL endpoint was built without the Asset Store (a bare ``execute_query``)."""

    code = "asset_store_not_served"


def _key(name: str) -> Callable[..., Any]:
    def resolve(source: Any, _info: Any) -> Any:
        return source.get(name) if isinstance(source, dict) else None

    return resolve


def _object(name: str, doc: str, fields: dict[str, tuple[str, GraphQLOutputType]]) -> GraphQLObjectType:
    """An object type of camelCase fields, each reading a snake_case key of the answer."""
    made = {field: GraphQLField(type_, resolve=_key(key)) for field, (key, type_) in fields.items()}
    return GraphQLObjectType(name, made, description=doc)


def _store(info: Any) -> AssetStore:
    store: AssetStore | None = info.context.get("asset_store")
    if store is None:
        raise NoAssetStore("This server does not serve the Asset Store (buckets and sources).")
    return store


def _one(read: Callable[[AssetStore, str], dict[str, Any]], argument: str) -> Callable[..., Any]:
    def resolve(_root: Any, info: Any, **args: Any) -> dict[str, Any] | None:
        try:
            return read(_store(info), args[argument])
        except RecordNotFound:
            return None

    return resolve


def _page(read: Callable[[AssetStore, int, str | None, dict[str, Any]], Any]) -> Callable[..., Any]:
    def resolve(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
        limits = info.context["registry"].page_limits
        items, next_after = read(
            _store(info), limits.resolve(args.get("limit")), decode_cursor(args.get("cursor")), args
        )
        return {"items": items, "nextCursor": encode_cursor(next_after) if next_after else None}

    return resolve


def _revisions(_root: Any, info: Any, assetId: str, **args: Any) -> dict[str, Any]:
    store: HistoryStore | None = info.context.get("history")
    if store is None:
        raise NoAssetStore("This server keeps no history.")
    registry = info.context["registry"]
    after = history.number_after(decode_cursor(args.get("cursor")))
    listed, next_n = store.revisions(assetId, registry.page_limits.resolve(args.get("limit")), after)
    items = [store.revision(assetId, int(r["n"])) for r in listed]
    items = [r for r in items if access.sees(access.bucket_of_document(r["document"], registry.blob_key))]
    items = [{**r, "document": info.context["present"](r["document"])} for r in items]
    return {"items": items, "nextCursor": None if next_n is None else encode_cursor(str(next_n))}


def catalog_fields(json: GraphQLScalarType) -> dict[str, GraphQLField]:
    """The Query fields of buckets and sources; ``json`` is the schema's JSON scalar."""
    text, number = GraphQLString, GraphQLInt
    required = GraphQLNonNull
    bucket_status = _object(
        "BucketStatus",
        "A bucket's phase (Ready, Failed, Terminating), reason code and message; when it was last checked (epoch s).",
        {
            "phase": ("phase", text),
            "reason": ("reason", text),
            "message": ("message", text),
            "lastChecked": ("last_checked", GraphQLFloat),
        },
    )
    bucket = _object(
        "Bucket",
        "A namespace of the blob store with a policy (`GET /buckets/{name}`).",
        {
            "name": ("name", required(text)),
            "region": ("region", required(text)),
            "policy": ("policy", required(text)),
            "url": ("url", required(text)),
            "status": ("status", required(bucket_status)),
        },
    )
    source_status = _object(
        "SourceStatus",
        "A source's phase (Pending, Ready, Failed), reason code and message, its last heartbeat (epoch s), its files.",
        {
            "phase": ("phase", text),
            "reason": ("reason", text),
            "message": ("message", text),
            "observedGeneration": ("observed_generation", number),
            "lastHeartbeat": ("last_heartbeat", GraphQLFloat),
            "files": ("files", json),
        },
    )
    source = _object(
        "Source",
        "Where an asset comes from (`GET /sources/{asset_id}`): its spec, generation and status.",
        {
            "assetId": ("asset_id", required(text)),
            "bucket": ("bucket", required(text)),
            "url": ("url", required(text)),
            "mode": ("mode", required(text)),
            "filter": ("filter", text),
            "asset": ("asset", json),
            "services": ("services", GraphQLList(required(text))),
            "parameters": ("parameters", json),
            "generation": ("generation", required(number)),
            "status": ("status", required(source_status)),
        },
    )

    def page_of(kind: GraphQLObjectType) -> GraphQLNonNull[GraphQLObjectType]:
        fields = {
            "items": GraphQLField(required(GraphQLList(required(kind)))),
            "nextCursor": GraphQLField(text),
        }
        doc = f"One page of {kind.name.lower()}s; pass `nextCursor` as `cursor` for the next (null: last page)."
        return required(GraphQLObjectType(f"{kind.name}Page", fields, description=doc))

    paging = {
        "limit": GraphQLArgument(number, description="Page size (server default and maximum apply)."),
        "cursor": GraphQLArgument(text, description="`nextCursor` of the previous page."),
    }
    name = {"name": GraphQLArgument(required(text))}
    asset_id = {"assetId": GraphQLArgument(required(text))}
    in_bucket = {"bucket": GraphQLArgument(text, description="Only the sources storing into this bucket.")}
    revision = _object(
        "AssetRevision",
        "A kept version of an asset's document: its number `n` (1, 2, … per asset id, across deletes), "
        "the revision it had, when (epoch s) and who wrote it.",
        {
            "n": ("n", required(number)),
            "revision": ("revision", number),
            "at": ("at", required(GraphQLFloat)),
            "actor": ("actor", required(text)),
            "document": ("document", json),
        },
    )
    revisions_page = required(
        GraphQLObjectType(
            "AssetRevisionPage",
            {"items": GraphQLField(required(GraphQLList(required(revision)))), "nextCursor": GraphQLField(text)},
            description="One page of revisions; pass `nextCursor` as `cursor` for the next (null: last page).",
        )
    )
    return {
        "assetRevisions": GraphQLField(
            revisions_page,
            {**asset_id, **paging},
            resolve=_revisions,
            description="The kept revisions of an asset (also of one deleted since), oldest first, with documents.",
        ),
        "bucket": GraphQLField(
            bucket, name, resolve=_one(AssetStore.get_bucket, "name"), description="The bucket, or null."
        ),
        "buckets": GraphQLField(
            page_of(bucket),
            paging,
            resolve=_page(lambda store, limit, after, _args: store.list_buckets(limit, after)),
            description="Buckets in name order.",
        ),
        "source": GraphQLField(
            source,
            asset_id,
            resolve=_one(AssetStore.get_source, "assetId"),
            description="The source of this asset, or null if it was not declared by a source.",
        ),
        "sources": GraphQLField(
            page_of(source),
            {**in_bucket, **paging},
            resolve=_page(lambda store, limit, after, args: store.list_sources(limit, after, args.get("bucket"))),
            description="Sources in asset_id order.",
        ),
    }
