"""The Asset Store's routes: ``/buckets`` and ``/sources`` (``core.sources``).

``PUT`` declares (201 new, 200 changed or unchanged), ``GET`` reads one or a page (a JSON
array, the next page's cursor in ``X-Next-Cursor`` and ``Link``, as the queries), ``DELETE``
removes (204). Phases and reasons are in each answer's ``status``. A read replica
(``routes=read``) answers ``GET`` and refuses ``PUT`` and ``DELETE`` as the other write routes.
"""

from __future__ import annotations

from typing import Any

import falcon

from assets_registry.apps.http import problems
from assets_registry.apps.http.bodies import page_params, read_json, send_json, send_page
from assets_registry.core.bucket_names import bucket_name_problem
from assets_registry.core.errors import InvalidInput
from assets_registry.core.pagination import PageLimits
from assets_registry.core.ports import Page
from assets_registry.core.sources import AssetStore


def _answer(resp: falcon.Response, value: Any, created: bool) -> None:
    send_json(resp, value, 201 if created else 200)


def _force(req: falcon.Request) -> bool:
    return req.get_param_as_bool("force") or False


def _read_only(req: falcon.Request, resp: falcon.Response) -> None:
    problems.send_problem(
        resp,
        405,
        "write_routes_not_served",
        f"This server does not serve the write routes (it runs with routes=read); "
        f"send {req.method} {req.path} to a server that does.",
    )


class _Writes:
    """``PUT`` and ``DELETE`` run only where the write routes are served."""

    writable = True

    def refused(self, req: falcon.Request, resp: falcon.Response) -> bool:
        if not self.writable:
            _read_only(req, resp)
        return not self.writable


class BucketsResource:
    def __init__(self, store: AssetStore, limits: PageLimits) -> None:
        self.store, self.limits = store, limits

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = page_params(req)
        items, next_after = self.store.list_buckets(self.limits.resolve(limit), after)
        send_page(req, resp, Page(items, next_after))


class BucketResource(_Writes):
    def __init__(self, store: AssetStore, max_body: int, writable: bool = True) -> None:
        self.store, self.max_body, self.writable = store, max_body, writable

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if self.refused(req, resp):
            return
        body = read_json(req, self.max_body) if req.content_length else {}
        answer, created = self.store.put_bucket(name, body)
        if created:
            resp.location = f"/buckets/{name}"
        _answer(resp, answer, created)

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        send_json(resp, self.store.get_bucket(name))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if self.refused(req, resp):
            return
        self.store.delete_bucket(name, _force(req))
        resp.status = 204


class SourcesResource:
    def __init__(self, store: AssetStore, limits: PageLimits) -> None:
        self.store, self.limits = store, limits

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = page_params(req)
        bucket = req.get_param("bucket") or None
        if bucket is not None and (problem := bucket_name_problem(bucket)):
            raise InvalidInput(f"?bucket= must name a bucket: {bucket!r} {problem}.")
        items, next_after = self.store.list_sources(self.limits.resolve(limit), after, bucket)
        send_page(req, resp, Page(items, next_after))


class SourceResource(_Writes):
    def __init__(self, store: AssetStore, max_body: int, on_declared: Any, writable: bool = True) -> None:
        self.store, self.max_body, self.on_declared, self.writable = store, max_body, on_declared, writable

    def on_put(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        if self.refused(req, resp):
            return
        answer, created = self.store.put_source(asset_id, read_json(req, self.max_body))
        if created:
            resp.location = f"/sources/{asset_id}"
        self.on_declared()
        _answer(resp, answer, created)

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        send_json(resp, self.store.get_source(asset_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        if self.refused(req, resp):
            return
        self.store.delete_source(asset_id)
        resp.status = 204
