"""What each route's responders take and answer, for ``/openapi.json`` (``apps.http.openapi``).

One ``Operation`` per route template and method the app serves, keyed as the app adds them (a
``HEAD`` that is its ``GET`` without the body needs none: ``openapi.head_of`` derives it);
``openapi.build_document`` refuses to build a document where a served responder has no entry
here, so the document cannot drift from the routes. Every operation also answers 400 and 503
(and 401 and 403 under ``auth=tokens`` unless it is open) as problems (``openapi.COMMON``),
besides the ``problems`` it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    responses: dict[int, dict[str, Any]]
    query: tuple[str, ...] = ()  # names in PARAMETERS
    headers: tuple[str, ...] = ()  # request headers, names in PARAMETERS
    body: dict[str, Any] | None = None
    problems: tuple[int, ...] = ()  # statuses answered as problem documents
    description: str = ""
    open: bool = False  # answers without a token under auth=tokens
    extra: dict[str, Any] = field(default_factory=dict)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def json_answer(description: str, schema: dict[str, Any], *headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = {name: header(name) for name in headers}
    return answer


def page_of(description: str, item: str) -> dict[str, Any]:
    return json_answer(description, {"type": "array", "items": ref(item)}, "X-Next-Cursor", "Link")


def bare(description: str, *headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if headers:
        answer["headers"] = {name: header(name) for name in headers}
    return answer


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def binary(description: str, media: str, *headers: str) -> dict[str, Any]:
    answer = bare(description, *headers)
    answer["content"] = {media: {"schema": {"type": "string", "contentMediaType": media}}}
    return answer


def html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


_ASSET = json_answer("The asset", ref("Asset"), "ETag")
_PAGE = ("limit", "cursor")
_NOT_MODIFIED = bare("Not modified: the client's copy (If-None-Match) is current", "ETag")
_GRAPHQL_ANSWER = {
    "description": "The result; GraphiQL (text/html) for a browser that sends no query",
    "content": {JSON: {"schema": ref("GraphQLResponse")}, "text/html": {"schema": {"type": "string"}}},
}
_GRAPHQL_REFUSED = json_answer("A query that cannot run (syntax, validation, limits)", ref("GraphQLResponse"))
_FILE_HEADERS = ("ETag", "Repr-Digest", "Accept-Ranges", "Content-Range")


def _lookup(what: str) -> Operation:
    return Operation(f"Assets by {what} (paged)", "queries", {200: page_of("The matching assets", "Asset")}, _PAGE)


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/healthz", "GET"): Operation("Liveness", "operations", {200: json_answer("Alive", ref("Health"))}, open=True),
    ("/readyz", "GET"): Operation(
        "Readiness: every backend answers",
        "operations",
        {200: json_answer("Ready", ref("Readiness")), 503: json_answer("A backend is down", ref("Readiness"))},
        open=True,
    ),
    ("/metrics", "GET"): Operation(
        "Prometheus metrics, summed over the server's processes",
        "operations",
        {200: {"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}}},
    ),
    ("/openapi.json", "GET"): Operation(
        "This document", "pages", {200: json_answer("OpenAPI 3.1", {"type": "object"})}, open=True
    ),
    ("/docs", "GET"): Operation("The API's docs (Swagger UI)", "pages", {200: html("The page")}, open=True),
    ("/static/{path}", "GET"): Operation(
        "A script or stylesheet of the registry's pages",
        "pages",
        {200: bare("The file", "ETag"), 304: _NOT_MODIFIED},
        headers=("If-None-Match",),
        problems=(404,),
        open=True,
    ),
    ("/query/by-id/{asset_id}", "GET"): Operation(
        "One asset", "queries", {200: _ASSET, 304: _NOT_MODIFIED}, headers=("If-None-Match",), problems=(404,)
    ),
    ("/query/by-type/{value}", "GET"): _lookup("profiles[].asset_type"),
    ("/query/by-sub-type/{value}", "GET"): _lookup("profiles[].asset_sub_type"),
    ("/query/by-tag/{value}", "GET"): _lookup("profiles[].asset_tags"),
    ("/query/by-api-route/{value}", "GET"): _lookup("apis[].asset_api_route"),
    ("/query/search", "POST"): Operation(
        "Search with a filter (MongoDB's query language)",
        "queries",
        {200: page_of("The matching assets", "Asset")},
        _PAGE,
        body=json_body(ref("SearchFilter")),
        problems=(413, 415),
    ),
    ("/graphql", "GET"): Operation(
        "A GraphQL query in the URL; without one, a browser gets GraphiQL",
        "graphql",
        {200: _GRAPHQL_ANSWER, 400: _GRAPHQL_REFUSED},
        ("query", "operationName", "variables"),
    ),
    ("/graphql", "POST"): Operation(
        "A GraphQL query (docs/graphql.md)",
        "graphql",
        {200: json_answer("The result", ref("GraphQLResponse")), 400: _GRAPHQL_REFUSED},
        body=json_body(ref("GraphQLRequest")),
        problems=(413, 415),
    ),
    ("/assets", "POST"): Operation(
        "Create an asset",
        "assets",
        {201: json_answer("Created", ref("Asset"), "ETag", "Location")},
        body=json_body(ref("Asset")),
        problems=(413, 415),
        description="An existing id is a 400 `asset_exists` (the seed's contract).",
    ),
    ("/assets/{asset_id}", "PUT"): Operation(
        "Change top-level fields of an asset",
        "assets",
        {200: _ASSET},
        headers=("If-Match",),
        body=json_body(ref("AssetChanges")),
        problems=(404, 409, 412, 413, 415),
    ),
    ("/assets/{asset_id}", "DELETE"): Operation(
        "Delete an asset",
        "assets",
        {200: json_answer("Deleted", ref("Deleted"))},
        headers=("If-Match",),
        problems=(404, 409, 412),
    ),
    ("/assets/{asset_id}/files/{file_id}", "GET"): Operation(
        "One file of an asset, streamed (Range, If-None-Match, If-Range)",
        "files",
        {
            200: binary("The file", "application/octet-stream", *_FILE_HEADERS[:3]),
            206: binary("The range asked for", "application/octet-stream", *_FILE_HEADERS),
            304: _NOT_MODIFIED,
            416: bare("The range is outside the file", "Content-Range"),
        },
        headers=("Range", "If-None-Match", "If-Range"),
        problems=(404,),
    ),
    ("/assets/{asset_id}/revisions", "GET"): Operation(
        "The kept revisions of an asset id (also after a delete)",
        "history",
        {200: page_of("Revisions, oldest first", "RevisionEntry")},
        _PAGE,
        problems=(404,),
    ),
    ("/assets/{asset_id}/revisions/{n}", "GET"): Operation(
        "One kept revision with its document",
        "history",
        {200: json_answer("The revision", ref("Revision"))},
        problems=(404,),
    ),
    ("/audit", "GET"): Operation(
        "The audit trail (admin)",
        "history",
        {200: page_of("Changes, oldest first", "Change")},
        ("asset_id", "actor", "since", "until", *_PAGE),
    ),
    ("/zip/upload", "POST"): Operation(
        "Upload a ZIP bundle (multipart/form-data, field 'file'); the job runs in the background",
        "bundles",
        {202: json_answer("Queued", ref("UploadAccepted"), "Location")},
        ("services", "bucket"),
        body={"required": True, "content": {"multipart/form-data": {"schema": ref("UploadForm")}}},
        problems=(404, 409, 413, 415),
    ),
    ("/zip/status/{upload_id}", "GET"): Operation(
        "An upload job's status", "bundles", {200: json_answer("The status", ref("UploadStatus"))}, problems=(404,)
    ),
    ("/zip/download/{asset_id}", "GET"): Operation(
        "The asset as a ZIP bundle, streamed (Range, If-None-Match, If-Range)",
        "bundles",
        {
            200: binary("The bundle", "application/zip", "ETag", "Accept-Ranges"),
            206: binary("The range asked for", "application/zip", "ETag", "Content-Range"),
            304: _NOT_MODIFIED,
            416: bare("The range is outside the bundle", "Content-Range"),
        },
        headers=("Range", "If-None-Match", "If-Range"),
        problems=(404,),
    ),
    ("/zip/download/{asset_id}", "HEAD"): Operation(
        "Headers of the ZIP bundle (with its length)",
        "bundles",
        {200: bare("As GET", "ETag"), 304: _NOT_MODIFIED},
        headers=("If-None-Match",),
        problems=(404,),
    ),
    ("/buckets", "GET"): Operation("Buckets (paged)", "asset store", {200: page_of("Buckets", "Bucket")}, _PAGE),
    ("/buckets/{name}", "GET"): Operation(
        "One bucket with its phase", "asset store", {200: json_answer("The bucket", ref("Bucket"))}, problems=(404,)
    ),
    ("/buckets/{name}", "PUT"): Operation(
        "Declare or change a bucket",
        "asset store",
        {
            201: json_answer("Created", ref("Bucket"), "Location"),
            200: json_answer("Changed or unchanged", ref("Bucket")),
        },
        body=json_body({"anyOf": [ref("BucketSpec"), {"type": "null"}]}, required=False),
        problems=(405, 409, 413, 415),
    ),
    ("/buckets/{name}", "DELETE"): Operation(
        "Delete a bucket (?force=true with its assets)",
        "asset store",
        {204: bare("Deleted")},
        ("force",),
        problems=(404, 405, 409),
    ),
    ("/sources", "GET"): Operation(
        "Asset sources (paged)", "asset store", {200: page_of("Sources", "Source")}, ("bucket", *_PAGE)
    ),
    ("/sources/{asset_id}", "GET"): Operation(
        "One source with its phase", "asset store", {200: json_answer("The source", ref("Source"))}, problems=(404,)
    ),
    ("/sources/{asset_id}", "PUT"): Operation(
        "Declare an asset by the URL it comes from",
        "asset store",
        {
            201: json_answer("Created", ref("Source"), "Location"),
            200: json_answer("Changed or unchanged", ref("Source")),
        },
        body=json_body(ref("SourceSpec")),
        problems=(404, 405, 409, 413, 415),
    ),
    ("/sources/{asset_id}", "DELETE"): Operation(
        "Delete a source (and its asset)", "asset store", {204: bare("Deleted")}, problems=(404, 405, 409)
    ),
    ("/tokens", "GET"): Operation(
        "Tokens (admin)", "access", {200: json_answer("Tokens", {"type": "array", "items": ref("Token")})}
    ),
    ("/tokens", "POST"): Operation(
        "Create a token (admin); the secret is shown once",
        "access",
        {201: json_answer("Created", ref("TokenCreated"), "Location")},
        body=json_body(ref("TokenSpec")),
        problems=(409, 413, 415),
    ),
    ("/tokens/{token_name}", "DELETE"): Operation(
        "Revoke a token (admin)", "access", {200: json_answer("Revoked", ref("Token"))}, problems=(404,)
    ),
}
