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
from assets_registry.apps.http.files import AssetFileResource
from assets_registry.apps.http.graphql import GraphQLResource
from assets_registry.apps.http.health import HealthResource, ReadinessResource
from assets_registry.apps.http.history import AuditResource, RequestIds, RevisionResource, RevisionsResource
from assets_registry.apps.http.paths import LiteralIds
from assets_registry.apps.http.queries import AssetByIdResource, LookupResource, SearchResource
from assets_registry.apps.http.sources import BucketResource, BucketsResource, SourceResource, SourcesResource
from assets_registry.apps.http.static import StaticResource
from assets_registry.apps.logs import RequestLog
from assets_registry.apps.metrics import MetricsResource, RequestMetrics
from assets_registry.apps.settings import Routes
from assets_registry.core.lookups import Lookup

LOOKUP_ROUTES = {
    "/query/by-type/{value}": Lookup.TYPE,
    "/query/by-sub-type/{value}": Lookup.SUB_TYPE,
    "/query/by-tag/{value}": Lookup.TAG,
    "/query/by-api-route/{value:path}": Lookup.API_ROUTE,
}


READ_PREFIXES = r"^/(query|graphql|zip/status|zip/download)(/|$)"
WRITE_PREFIXES = r"^/(assets|zip/upload)(/|$)"


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
    middleware: list[Any] = [
        RequestMetrics(),
        RequestIds(),
        LiteralIds(),
        Authentication(tokens, services.registry, services.asset_store),
    ]
    if services.settings.log_format == "json":
        middleware.append(RequestLog())  # after Authentication: it still knows the actor
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    problems.install(app)
    registry = services.registry
    max_body = services.settings.max_body_bytes

    app.add_route("/healthz", HealthResource())
    app.add_route("/metrics", MetricsResource())
    app.add_route("/static/{path:path}", StaticResource())
    app.add_route("/tokens", TokensResource(services.tokens, max_body))
    app.add_route("/tokens/{name}", TokenResource(services.tokens))
    if services.registry.history is not None:
        kept, limits = services.registry.history, services.registry.page_limits
        app.add_route("/audit", AuditResource(kept, limits))
        app.add_route("/assets/{asset_id}/revisions", RevisionsResource(registry, kept, limits))
        app.add_route("/assets/{asset_id}/revisions/{n}", RevisionResource(registry, kept))
    app.add_route("/readyz", ReadinessResource(services))
    if routes in ("all", "read"):
        app.add_route("/query/by-id/{asset_id}", AssetByIdResource(registry))
        for template, lookup in LOOKUP_ROUTES.items():
            app.add_route(template, LookupResource(registry, lookup))
        app.add_route("/query/search", SearchResource(registry, max_body))
        app.add_route(
            "/graphql",
            GraphQLResource(build_schema(), registry, max_body, services.asset_store, services.registry.history),
        )
        app.add_route("/zip/status/{upload_id}", UploadStatusResource(services.bundles))
        app.add_route("/zip/download/{asset_id}", DownloadResource(services.bundles))
        app.add_route("/assets/{asset_id}/files/{file_id:path}", AssetFileResource(registry, services.blobs))
    else:
        app.add_sink(_served_elsewhere("read"), READ_PREFIXES)
    if routes in ("all", "write"):
        app.add_route("/assets", AssetsResource(registry, max_body))
        app.add_route("/assets/{asset_id}", AssetResource(registry, max_body))
        app.add_route("/zip/upload", UploadResource(services.bundles, on_queued, services.asset_store))
    else:
        app.add_sink(_served_elsewhere("write"), WRITE_PREFIXES)
    store, limits, writable = services.asset_store, services.registry.page_limits, routes != "read"
    app.add_route("/buckets", BucketsResource(store, limits))
    app.add_route("/buckets/{name}", BucketResource(store, max_body, writable))
    app.add_route("/sources", SourcesResource(store, limits))
    app.add_route("/sources/{asset_id}", SourceResource(store, max_body, on_queued, writable))
    return app
