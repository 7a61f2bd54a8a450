"""The read routes of the seed: ``/query/by-*`` lookups and ``POST /query/search``.

List answers are JSON arrays, paged by ``limit`` and ``cursor`` query parameters; the next
page's cursor comes back in the ``X-Next-Cursor`` header and a ``Link: rel="next"``.
"""

from __future__ import annotations

import falcon

from assets_registry.apps.http.assets import etag, send_asset
from assets_registry.apps.http.bodies import page_params, read_json, send_page
from assets_registry.core.lookups import Lookup
from assets_registry.core.ports import Page
from assets_registry.core.registry import Registry


class AssetByIdResource:
    """``GET``/``HEAD /query/by-id/{asset_id}``: one asset, with ``ETag`` (304 on ``If-None-Match``)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        stored = self.registry.get(asset_id)
        tag = etag(stored)
        if req.get_header("If-None-Match") in (tag, f"W/{tag}"):
            resp.status = falcon.HTTP_304
            resp.set_header("ETag", tag)
            return
        send_asset(req, resp, stored, tag=tag)


class LookupResource:
    """``GET /query/by-{type,sub-type,tag,api-route}/{value}``."""

    def __init__(self, registry: Registry, lookup: Lookup) -> None:
        self.registry = registry
        self.lookup = lookup

    def on_get(self, req: falcon.Request, resp: falcon.Response, value: str) -> None:
        limit, after = page_params(req)
        send_page(req, resp, _presented(req, self.registry.lookup(self.lookup, value, limit, after)))


class SearchResource:
    """``POST /query/search``: the body is the filter (a subset of MongoDB's query language)."""

    read_methods = ("POST",)  # a read, for the access check

    def __init__(self, registry: Registry, max_body_bytes: int) -> None:
        self.registry = registry
        self.max_body_bytes = max_body_bytes

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = page_params(req)
        page = self.registry.search(read_json(req, self.max_body_bytes), limit, after)
        send_page(req, resp, _presented(req, page))


def _presented(req: falcon.Request, page: Page) -> Page:
    return Page([req.context.present(document) for document in page.documents], page.next_after)
