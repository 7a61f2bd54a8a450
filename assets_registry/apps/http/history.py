"""``GET /audit`` (admins) and ``GET /assets/{asset_id}/revisions[/{n}]``; request ids.

``/audit?asset_id=&actor=&since=&until=&limit=&cursor=`` pages through the changes in the
order they were made (``since``/``until``: epoch seconds or ISO 8601, ``until`` exclusive).
``/assets/{id}/revisions`` lists the kept revisions (``n``, ``revision``, ``at``, ``actor``)
and ``/revisions/{n}`` answers one with its ``document``, also after the asset was deleted;
a bucket-limited token sees only revisions of its buckets' assets.

``RequestIds`` takes the client's ``X-Request-ID`` (1-128 printable characters) or makes one,
sends it back, and runs the request under it, so the audit trail names it.
"""

from __future__ import annotations

import re
from typing import Any

import falcon

from assets_registry.apps.http.bodies import page_params, send_json, send_page
from assets_registry.core import access, history
from assets_registry.core.errors import InvalidInput, RevisionNotFound
from assets_registry.core.history import HistoryStore
from assets_registry.core.identifiers import id_problem
from assets_registry.core.pagination import PageLimits
from assets_registry.core.ports import Page
from assets_registry.core.registry import Registry

_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


class RequestIds:
    """Falcon middleware: every request runs under a request id, echoed in ``X-Request-ID``."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header("X-Request-ID")
        serving = history.serving(given if given and _REQUEST_ID.fullmatch(given) else None, req.remote_addr)
        resp.set_header("X-Request-ID", serving.__enter__())
        req.context.serving = serving

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool) -> None:
        serving = getattr(req.context, "serving", None)
        if serving is not None:
            req.context.serving = None
            serving.__exit__(None, None, None)


def _moment(req: falcon.Request, name: str) -> float | None:
    raw = req.get_param(name)
    if not raw:  # ?since= is the same as leaving it out, as every parameter
        return None
    try:
        return history.parse_moment(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be epoch seconds or an ISO 8601 time such as 2026-12-01T00:00:00Z.") from None


def _send_listing(req: falcon.Request, resp: falcon.Response, items: list[Any], next_after: str | None) -> None:
    """A JSON array with the next page's cursor in ``X-Next-Cursor`` and ``Link``, as every list."""
    send_page(req, resp, Page(items, next_after))


class AuditResource:
    admin_only = True

    def __init__(self, store: HistoryStore, limits: PageLimits) -> None:
        self.store, self.limits = store, limits

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = page_params(req)
        items, next_after = self.store.changes(
            self.limits.resolve(limit),
            after,
            asset_id=req.get_param("asset_id") or None,
            actor=req.get_param("actor") or None,
            since=_moment(req, "since"),
            until=_moment(req, "until"),
        )
        _send_listing(req, resp, items, next_after)


class RevisionsResource:
    def __init__(self, registry: Registry, store: HistoryStore, limits: PageLimits) -> None:
        self.registry, self.store, self.limits = registry, store, limits

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        limit, after = page_params(req)
        if problem := id_problem(asset_id):
            raise InvalidInput(f"{asset_id!r} cannot be an asset id: it {problem}.")
        items, next_n = self.store.revisions(asset_id, self.limits.resolve(limit), history.number_after(after))
        items = visible_revisions(self.registry, self.store, asset_id, items)
        _send_listing(req, resp, items, None if next_n is None else str(next_n))


def visible_revisions(registry: Registry, store: HistoryStore, asset_id: str, items: list[Any]) -> list[Any]:
    """The revisions the request's principal may see: each judged by its own bucket."""
    if access.limits() is None:
        return items
    return [
        r
        for r in items
        if access.sees(access.bucket_of_document(store.revision(asset_id, int(r["n"]))["document"], registry.blob_key))
    ]


class RevisionResource:
    def __init__(self, registry: Registry, store: HistoryStore) -> None:
        self.registry, self.store = registry, store

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str, n: str) -> None:
        if not (n.isascii() and n.isdigit()):
            raise InvalidInput(f"A revision is a number (1, 2, …); got {n!r}.")
        if int(n) > history.MAX_REVISION:  # past what any store can count to
            raise RevisionNotFound(asset_id, int(n))
        kept = self.store.revision(asset_id, int(n))
        if not access.sees(access.bucket_of_document(kept["document"], self.registry.blob_key)):
            raise RevisionNotFound(asset_id, int(n))
        send_json(resp, {**kept, "document": req.context.present(kept["document"])})
