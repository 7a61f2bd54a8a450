"""The Falcon WSGI app: ``create_app(services)`` wires resources to use cases, no side effects.

Routes are grouped as read routes (queries, search, GraphQL) and write routes (create,
update, delete). A process serves all of them by default; ``routes="read"`` makes a
read-only replica and ``routes="write"`` a write-only front. ``/buckets`` and ``/sources``
are served by both: ``GET`` everywhere, ``PUT`` and ``DELETE`` where writes are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from assets_registry.apps.container import Services
from assets_registry.apps.graphql_api import build_schema
from assets_registry.apps.http import problems
from assets_registry.apps.http.assets import AssetResource, AssetsResource
from assets_registry.apps.http.auth import Authentication, TokenResource, TokensResource
from assets_registry.apps.http.bundles import DownloadResource, UploadResource, UploadStatusResource
from assets_registry.apps.http.file_urls import FileUrls
from assets_registry.apps.http.files import AssetFileResource
from assets_registry.apps.http.graphql import GraphQLResource
from assets_registry.apps.http.health import HealthResource, ReadinessResource
from assets_registry.apps.http.history import AuditResource, RequestIds, RevisionResource, RevisionsResource
from assets_registry.apps.http.openapi import DocsResource, OpenApiResource, RouteBook, build_document
from assets_registry.apps.http.paths import LiteralIds
from assets_registry.apps.http.queries import AssetByIdResource, LookupResource, SearchResource
from assets_registry.apps.http.resumable import add_resumable
from assets_registry.apps.http.sources import BucketResource, BucketsResource, SourceResource, SourcesResource
from assets_registry.apps.http.static import StaticResource
from assets_registry.apps.http.ui import add_pages
from assets_registry.apps.logs import RequestLog
from assets_registry.apps.metrics import MetricsResource, RequestMetrics
from assets_registry.apps.settings import Routes
from assets_registry.core.bundles.resumable import ResumableUploads
from assets_registry.core.lookups import Lookup

LOOKUP_ROUTES = {
    "/query/by-type/{value}": Lookup.TYPE,
    "/query/by-sub-type/{value}": Lookup.SUB_TYPE,
    "/query/by-tag/{value}": Lookup.TAG,
    "/query/by-api-route/{value:path}": Lookup.API_ROUTE,
}


READ_PREFIXES = r"^/(query|graphql|zip/status|zip/download)(/|$)"
WRITE_PREFIXES = r"^/(assets|zip/upload|uploads)(/|$)"


def _served_elsewhere(kind: str) -> Callable[..., None]:
    def sink(req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        problems.send_problem(
            resp,
            405,
            f"{kind}_routes_not_served",
            f"This server does not serve the {kind} routes (it runs with routes={_OTHER[kind]}); "
            f"send {req.method} {req.path} to a server that does.",
        )

    return sink


_OTHER = {"read": "write", "write": "read"}


def create_app(
    services: Services, routes: Routes = "all", on_queued: Callable[[], None] = lambda: None
) -> falcon.App[falcon.Request, falcon.Response]:
    tokens = services.tokens if services.settings.auth == "tokens" else None
    file_urls = FileUrls(services.blobs, services.settings.public_url)
    middleware: list[Any] = [
        file_urls,
        RequestMetrics(),
        RequestIds(),
        LiteralIds(),
        Authentication(tokens, services.registry, services.asset_store, services.settings.public_url),
    ]
    if services.settings.access_log:
        middleware.append(RequestLog())  # after Authentication: it still knows the actor
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    problems.install(app)
    book, spec = RouteBook(app), OpenApiResource()
    book.add("/openapi.json", spec)
    book.add("/docs", DocsResource())
    registry = services.registry
    max_body = services.settings.max_body_bytes

    book.add("/healthz", HealthResource())
    book.add("/metrics", MetricsResource(services.jobs))
    book.add("/static/{path:path}", StaticResource())
    book.add("/tokens", TokensResource(services.tokens, max_body))
    book.add("/tokens/{token_name}", TokenResource(services.tokens))
    if services.registry.history is not None:
        kept, limits = services.registry.history, services.registry.page_limits
        book.add("/audit", AuditResource(kept, limits))
        book.add("/assets/{asset_id}/revisions", RevisionsResource(registry, kept, limits))
        book.add("/assets/{asset_id}/revisions/{n}", RevisionResource(registry, kept))
    book.add("/readyz", ReadinessResource(services))
    if routes in ("all", "read"):
        book.add("/query/by-id/{asset_id}", AssetByIdResource(registry))
        for template, lookup in LOOKUP_ROUTES.items():
            book.add(template, LookupResource(registry, lookup))
        book.add("/query/search", SearchResource(registry, max_body))
        book.add(
            "/graphql",
            GraphQLResource(build_schema(), registry, max_body, services.asset_store, services.registry.history),
        )
        book.add("/zip/status/{upload_id}", UploadStatusResource(services.bundles))
        book.add("/zip/download/{asset_id}", DownloadResource(services.bundles))
        book.add("/assets/{asset_id}/files/{file_id:path}", AssetFileResource(registry, services.blobs))
    else:
        app.add_sink(_served_elsewhere("read"), READ_PREFIXES)
    if routes in ("all", "write"):
        book.add("/assets", AssetsResource(registry, max_body))
        book.add("/assets/{asset_id}", AssetResource(registry, max_body, file_urls))
        book.add("/zip/upload", UploadResource(services.bundles, on_queued, services.asset_store))
        add_resumable(book.add, ResumableUploads(services.bundles, services.settings.upload_expiry_seconds),
                      on_queued, services.asset_store)  # fmt: skip
    else:
        app.add_sink(_served_elsewhere("write"), WRITE_PREFIXES)
    if routes in ("all", "read"):
        add_pages(book.add, services)
    store, limits, writable = services.asset_store, services.registry.page_limits, routes != "read"
    book.add("/buckets", BucketsResource(store, limits))
    book.add("/buckets/{name}", BucketResource(store, max_body, writable))
    book.add("/sources", SourcesResource(store, limits))
    book.add("/sources/{asset_id}", SourceResource(store, max_body, on_queued, writable))
    spec.publish(build_document(book, tokens is not None, limits.maximum, services.bundles.ingest.catalog.names()))
    return app
