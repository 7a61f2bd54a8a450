"""``/openapi.json`` built from the routes the app serves, and the docs page ``/docs`` (Swagger UI).

``RouteBook`` adds each route to the Falcon app and remembers it; the document's paths are
those routes and their responders (``on_get`` → ``get``), each described by its entry in
``api_operations.OPERATIONS`` and its schemas from ``api_schemas`` (the asset's from the model
the server decodes documents into). A responder without an entry stops the app from starting
— the document cannot drift from what is served; entries of routes this process does not serve
are left out, so a read replica (``routes=read``) describes only what it serves. A ``HEAD``
without an entry of its own is its ``GET``'s, without the bodies. Swagger UI is shipped in the
package (``apps/static/vendor``); its page loads nothing from another host.
"""

from __future__ import annotations

import dataclasses
import html
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import falcon
import msgspec

from assets_registry.apps.http.api_operations import OPERATIONS, Operation, ref
from assets_registry.apps.http.api_schemas import (
    BUCKET_PATTERN,
    FILE_ID_PATTERN,
    ID_PATTERN,
    IF_MATCH_PATTERN,
    TOKEN_NAME_PATTERN,
    answer_schemas,
    model_schemas,
)
from assets_registry.apps.http.api_tus import TUS_HEADERS, TUS_OPERATIONS, tus_parameters

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


class RouteBook:
    """The app's routes, as added: ``(template, resource)`` in order."""

    def __init__(self, app: falcon.App[falcon.Request, falcon.Response]) -> None:
        self.app = app
        self.routes: list[tuple[str, Any]] = []

    def add(self, template: str, resource: Any) -> None:
        """Add the route; a resource that answers ``GET`` answers ``HEAD`` too (the same headers,
        no body: Falcon sends none for ``HEAD``) unless it has a responder of its own for it."""
        if hasattr(resource, "on_get") and not hasattr(resource, "on_head"):
            resource.on_head = resource.on_get
        self.app.add_route(template, resource)
        self.routes.append((template, resource))

    def served(self) -> list[tuple[str, str, Any]]:
        """``(template, METHOD, resource)`` of every responder of the routes in the API."""
        return [
            (template, method, resource)
            for template, resource in self.routes
            if getattr(resource, "in_api", True)
            for method in METHODS
            if hasattr(resource, f"on_{method.lower()}")
        ]


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    if where == "query":  # Falcon reads ?name= as if the parameter were not given
        return {"name": name, "in": where, "schema": schema, "description": description, "allowEmptyValue": True}
    return {"name": name, "in": where, "schema": schema, "description": description}


def parameters(max_page: int, services: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The query and header parameters operations name (``Operation.query`` and ``.headers``)."""
    text = {"type": "string"}
    names = "|".join(re.escape(name) for name in services)
    listed = (
        {"type": "string", "pattern": f"^\\s*({names})\\s*(,\\s*({names})\\s*)*$"} if services else {"maxLength": 0}
    )
    moment = {"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]}
    return {
        "limit": _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": max_page}, "page size"),
        "cursor": _param("cursor", "query", text, "the X-Next-Cursor of the page before"),
        "asset_id": _param("asset_id", "query", text, "changes of this asset only"),
        "actor": _param("actor", "query", text, "changes by this token name only"),
        "since": _param("since", "query", moment, "from this time (epoch seconds or ISO 8601)"),
        "until": _param("until", "query", moment, "up to this time (epoch seconds or ISO 8601)"),
        "bucket": _param("bucket", "query", {"type": "string", "pattern": BUCKET_PATTERN}, "a bucket"),
        "services": _param("services", "query", {"type": "string", **listed}, "webhook services, comma-separated"),
        "force": _param("force", "query", {"type": "boolean"}, "also delete what the bucket holds"),
        "query": _param("query", "query", {"type": "string", "minLength": 1}, "the GraphQL query"),
        "operationName": _param("operationName", "query", text, "the operation to run"),
        "variables": _param("variables", "query", text, "the variables as JSON"),
        "If-None-Match": _param("If-None-Match", "header", text, "an ETag this server sent"),
        "If-Match": _param("If-Match", "header", {"type": "string", "pattern": IF_MATCH_PATTERN}, "the ETag changed"),
        "Range": _param("Range", "header", text, "bytes=first-last, first- or -suffix; one range"),
        "If-Range": _param("If-Range", "header", text, "an ETag: the range only if the file is unchanged"),
        **tus_parameters(),
    }


_HEADERS = {
    "ETag": "a strong ETag of this representation",
    "Location": "where the new resource is",
    "X-Next-Cursor": "the cursor of the next page (absent on the last)",
    "Link": 'the next page as rel="next"',
    "Repr-Digest": "sha-256=:<base64>: of the whole file (RFC 9530)",
    "Accept-Ranges": "bytes",
    "Content-Range": "bytes first-last/size, or bytes */size on 416",
    "X-Request-ID": "the request's id (the client's, or one made), in the audit trail and logs",
    **TUS_HEADERS,
}

PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "asset_id": {"type": "string", "pattern": ID_PATTERN},
    "file_id": {"type": "string", "pattern": FILE_ID_PATTERN},
    "name": {"type": "string", "pattern": BUCKET_PATTERN},
    "n": {"type": "string", "pattern": "^[0-9]+$"},
    "token_name": {"type": "string", "pattern": TOKEN_NAME_PATTERN},
}

COMMON = {
    400: "The request is invalid (the problem says which field and why)",
    401: "No valid token (auth=tokens)",
    403: "The token's scope or buckets do not cover this",
    404: "Not found",
    405: "Not served by this process (routes=read or write)",
    409: "In conflict with the stored state",
    412: "If-Match names a version that is no longer current",
    413: "The body is larger than this server accepts",
    410: "The resumable upload expired",
    415: "The body is not in a media type this route reads",
    460: "The bytes do not match Upload-Checksum (tus); they were dropped",
    503: "A backend is unavailable; try again after Retry-After",
}


def _operation(template: str, method: str, op: Operation, params: dict[str, Any], auth: bool) -> dict[str, Any]:
    path_names = [part.strip("{}").split(":")[0] for part in template.split("/") if part.startswith("{")]
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_SCHEMAS.get(name, {"type": "string", "minLength": 1}),
        }
        for name in path_names
    ]
    parameters += [params[name] for name in (*op.query, *op.headers)]
    statuses = {400, 503, *op.problems} | ({401, 403} if auth and not op.open else set())
    responses: dict[str, Any] = {str(status): answer for status, answer in sorted(op.responses.items())}
    for status in sorted(statuses - set(op.responses)):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    document: dict[str, Any] = {
        "operationId": _operation_id(template, method),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.description:
        document["description"] = op.description
    if op.body is not None:
        document["requestBody"] = op.body
    if auth and op.open:
        document["security"] = []
    return document | op.extra


def head_of(get: Operation) -> Operation:
    """The ``HEAD`` of a ``GET``: its answers' statuses and headers, no body."""
    responses = {
        status: {k: v for k, v in answer.items() if k != "content"} for status, answer in get.responses.items()
    }
    return dataclasses.replace(get, summary=f"Headers of: {get.summary}", responses=responses, body=None)


def _operation_id(template: str, method: str) -> str:
    words = [part.strip("{}").split(":")[0] for part in template.split("/") if part]
    return "_".join([method.lower(), *(w.replace("-", "_").replace(".", "_") for w in words)])


def build_document(book: RouteBook, auth: bool, max_page: int, services: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAPI 3.1 document of what ``book``'s app serves; ``ValueError`` if one is undescribed."""
    served = {(_plain(template), method) for template, method, _ in book.served()}
    operations = {
        **{(t, "HEAD"): head_of(op) for (t, m), op in OPERATIONS.items() if m == "GET"},
        **OPERATIONS,
        **TUS_OPERATIONS,
    }
    described = set(operations)
    missing = sorted(served - described)  # described but not served here (a replica's): left out
    if missing:
        raise ValueError(f"routes served without an OpenAPI description: {missing}")
    params = parameters(max_page, services)
    paths: dict[str, dict[str, Any]] = {}
    for template, method in sorted(served):
        paths.setdefault(template, {})[method.lower()] = _operation(
            template, method, operations[(template, method)], params, auth
        )
    problem = {"application/problem+json": {"schema": ref("Problem")}}
    components: dict[str, Any] = {
        "schemas": model_schemas() | answer_schemas(services),
        "responses": {str(status): {"description": text, "content": problem} for status, text in COMMON.items()},
        "headers": {name: {"description": text, "schema": {"type": "string"}} for name, text in _HEADERS.items()},
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Assets Registry",
            "version": package_version(),
            "description": "Assets (metadata documents, files, ZIP bundles), buckets and sources. "
            "Every error is an RFC 9457 problem document with a machine-readable `code`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": components,
    }
    if auth:
        components["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer", "description": "areg_… token"}}
        document["security"] = [{"token": []}]
    return document


def _plain(template: str) -> str:
    return "/".join(
        part.split(":")[0] + "}" if part.startswith("{") and ":" in part else part for part in template.split("/")
    )


def package_version() -> str:
    try:
        return version("assets-registry")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


class OpenApiResource:
    """``GET /openapi.json``: the document, built once when the app is made."""

    open_to_all = True

    def __init__(self) -> None:
        self.body = b""

    def publish(self, document: dict[str, Any]) -> None:
        self.body = msgspec.json.encode(document)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self.body


DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Assets Registry API</title>
  <link rel="stylesheet" href="{root}/static/vendor/swagger-ui.css">
  <link rel="icon" href="data:,">
</head>
<body>
  <div id="swagger-ui" data-spec="{root}/openapi.json"></div>
  <script src="{root}/static/vendor/swagger-ui-bundle.js"></script>
  <script src="{root}/static/docs.js"></script>
</body>
</html>
"""


class DocsResource:
    """``GET /docs``: Swagger UI over ``/openapi.json``; the page holds no data, so it is open."""

    open_to_all = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = DOCS_HTML.replace("{root}", html.escape(req.root_path, quote=True))
