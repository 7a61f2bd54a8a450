"""The web UI at ``/ui``: server-rendered pages (Jinja2, autoescaped) over the same use cases the
API calls, with one small script (the upload's progress) and one stylesheet, both in the package.

Pages: the assets (type, sub-type, tag, text and a JSON filter; paged), one asset (profiles,
policies, APIs, files with size, SHA-256 and a download link each, the ZIP, revisions), the
upload (progress, then the job followed to its end), buckets and sources with phases and reasons.
They run as the request's principal, like the API: a bucket-limited token sees its buckets only.
Under ``auth=tokens`` a browser signs in at ``/ui/login`` with a token, which is kept in an
HttpOnly, SameSite=Strict cookie (``auth.SESSION_COOKIE``) that the middleware also takes on
the API routes the pages link to; a page without a valid one redirects to the sign-in.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import falcon
import jinja2
from markupsafe import Markup

from assets_registry.apps.container import Services
from assets_registry.apps.http import problems
from assets_registry.apps.http.auth import SESSION_COOKIE, same_site
from assets_registry.apps.http.file_urls import file_path
from assets_registry.apps.http.history import visible_revisions
from assets_registry.apps.http.openapi import package_version
from assets_registry.apps.metrics import backend_failed
from assets_registry.core import access
from assets_registry.core.errors import BackendUnavailable, InvalidInput, RegistryError
from assets_registry.core.json_values import parse_json
from assets_registry.core.pagination import decode_cursor, encode_cursor

PAGE_SIZE = 50

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("assets_registry.apps", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_ENVIRONMENT.filters["urlencode_segment"] = lambda value: quote(str(value), safe="")
_ENVIRONMENT.filters["tojson_pretty"] = lambda value: Markup.escape(json.dumps(value, indent=2, ensure_ascii=False))
_ENVIRONMENT.filters["when"] = lambda at: datetime.datetime.fromtimestamp(float(at), datetime.UTC).strftime(
    "%Y-%m-%d %H:%M:%S"
)


class Pages:
    """What every page needs: the services, and how to render a template for a request."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.version = package_version()

    def render(
        self, req: falcon.Request, resp: falcon.Response, template: str, status: int = 200, **values: Any
    ) -> None:
        principal = getattr(req.context, "principal", None)
        signed_in = principal.name if principal is not None and self.services.settings.auth == "tokens" else None
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header("Cache-Control", "no-store")
        resp.set_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
        resp.text = _ENVIRONMENT.get_template(template).render(
            root=req.root_path + "/", version=self.version, signed_in=signed_in, **values
        )

    def guarded(
        self, req: falcon.Request, resp: falcon.Response, title: str, page: str, show: Callable[[], None]
    ) -> None:
        """Run ``show``; a domain error becomes the error page with its status and sentence."""
        try:
            show()
        except BackendUnavailable as exc:
            backend_failed(exc.backend)
            resp.set_header("Retry-After", str(exc.retry_after))
            self.render(req, resp, "error.html", 503, title=title, page=page, detail=exc.message, code=exc.code)
        except RegistryError as exc:
            status = problems.status_of(exc)
            self.render(req, resp, "error.html", status, title=title, page=page, detail=exc.message, code=exc.code)


class _Page:
    sign_in_page = True  # Authentication redirects a browser without a session to /ui/login
    in_api = False  # pages, not API operations: not in /openapi.json

    def __init__(self, pages: Pages) -> None:
        self.pages = pages


def asset_filter(form: dict[str, str]) -> dict[str, Any]:
    """The search filter of the assets page's form (``InvalidInput`` for a JSON filter that is not one)."""
    conditions: list[dict[str, Any]] = []
    profile = {k: form[f] for f, k in (("type", "asset_type"), ("sub_type", "asset_sub_type")) if form.get(f)}
    if profile:
        conditions.append({"profiles": {"$elemMatch": profile}})
    if form.get("tag"):
        conditions.append({"profiles.asset_tags": form["tag"]})
    if form.get("q"):
        text = {"$regex": _re2_literal(form["q"]), "$options": "i"}
        fields = ("asset_id", "asset_uri", "asset_brief_description", "profiles.asset_description")
        conditions.append({"$or": [{field: text} for field in fields]})
    if form.get("filter", "").strip():
        given = parse_json(form["filter"].encode())
        if not isinstance(given, dict):
            raise InvalidInput('The filter is a JSON object such as {"asset_version": "v2"}.')
        conditions.append(given)
    return {} if not conditions else conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _re2_literal(text: str) -> str:
    return "".join(f"\\{c}" if c in r"\.^$|?*+()[]{}" else c for c in text)


class AssetsPage(_Page):
    """``/ui``: find assets."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = {name: req.get_param(name) or "" for name in ("type", "sub_type", "tag", "q", "filter")}

        def show() -> None:
            try:
                page = self.pages.services.registry.search(
                    asset_filter(form), PAGE_SIZE, decode_cursor(req.get_param("cursor"))
                )
            except InvalidInput as exc:
                self.pages.render(req, resp, "assets.html", 400, title="Assets", page="assets", form=form,
                                  assets=[], error=exc.message, next_page=None)  # fmt: skip
                return
            next_page = _next(req, "", page.next_after, dict(form))
            self.pages.render(req, resp, "assets.html", title="Assets", page="assets", form=form,
                              assets=page.documents, error=None, next_page=next_page)  # fmt: skip

        self.pages.guarded(req, resp, "Assets", "assets", show)


class AssetPage(_Page):
    """``/ui/assets/{asset_id}``: one asset, its files and revisions."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        services = self.pages.services

        def show() -> None:
            stored = services.registry.get(asset_id)
            document = stored.document
            files = [self._file(req, asset_id, entry) for entry in document.get("files") or []]
            revisions = None
            if services.registry.history is not None:
                kept, _after = services.registry.history.revisions(asset_id, 100, None)
                revisions = visible_revisions(services.registry, services.registry.history, asset_id, kept)
            self.pages.render(req, resp, "asset.html", title=asset_id, page="assets", asset=document,
                              revision=stored.revision, files=files, revisions=revisions)  # fmt: skip

        self.pages.guarded(req, resp, asset_id, "assets", show)

    def _file(self, req: falcon.Request, asset_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        blobs = self.pages.services.blobs
        file_id, url = str(entry.get("asset_file_id", "")), str(entry.get("asset_file_url", ""))
        metadata = entry.get("asset_file_metadata") or {}
        key = blobs.key_for_url(url)
        size = metadata.get("size")
        if key is not None and not isinstance(size, int):
            try:
                size = blobs.stat(key).size
            except RegistryError:
                size = None
        href = None if key is None else req.root_path + file_path(asset_id, file_id)
        return {
            "id": file_id,
            "type": entry.get("asset_file_type", ""),
            "mime": entry.get("asset_file_mime_type", ""),
            "size_text": _size(size),
            "sha256": metadata.get("sha256") if isinstance(metadata.get("sha256"), str) else None,
            "href": href,
            "url": url if url.startswith(("http://", "https://")) else None,
        }


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return "?"
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit} ({size:,} B)"


class UploadPage(_Page):
    """``/ui/upload``: the form; ``static/upload.js`` sends it and follows the job."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        services = self.pages.services

        def show() -> None:
            buckets, _next = services.asset_store.list_buckets(1000)
            names = services.bundles.ingest.catalog.names()
            self.pages.render(req, resp, "upload.html", title="Upload a bundle", page="upload", buckets=buckets,
                              services=names)  # fmt: skip

        self.pages.guarded(req, resp, "Upload a bundle", "upload", show)


class BucketsPage(_Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        def show() -> None:
            items, after = self.pages.services.asset_store.list_buckets(
                PAGE_SIZE, decode_cursor(req.get_param("cursor"))
            )
            self.pages.render(req, resp, "buckets.html", title="Buckets", page="buckets", buckets=items,
                              next_page=_next(req, "buckets", after, {}))  # fmt: skip

        self.pages.guarded(req, resp, "Buckets", "buckets", show)


class SourcesPage(_Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        bucket = req.get_param("bucket") or None

        def show() -> None:
            store = self.pages.services.asset_store
            items, after = store.list_sources(PAGE_SIZE, decode_cursor(req.get_param("cursor")), bucket)
            self.pages.render(req, resp, "sources.html", title="Sources", page="sources", sources=items,
                              bucket=bucket, next_page=_next(req, "sources", after, {"bucket": bucket}))  # fmt: skip

        self.pages.guarded(req, resp, "Sources", "sources", show)


def _next(req: falcon.Request, page: str, after: str | None, params: dict[str, str | None]) -> str | None:
    """The link to the next page of ``/ui/<page>`` (``""``: ``/ui``), its other parameters kept."""
    if after is None:
        return None
    kept = {k: v for k, v in params.items() if v}
    path = f"{req.root_path}/ui/{page}" if page else f"{req.root_path}/ui"
    return f"{path}?{urlencode({**kept, 'cursor': encode_cursor(after)})}"


class LoginPage:
    """``/ui/login``: a token in, a session cookie out (only with ``auth=tokens``)."""

    open_to_all = True
    in_api = False

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.pages.render(req, resp, "login.html", title="Sign in", page="login", error=None, next=_local(req))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        _only_from_this_site(req, self.pages.services.settings.public_url, "Sign in")
        form = req.get_media() if req.content_length else {}
        token = str(form.get("token", "")).strip() if isinstance(form, dict) else ""
        target = _local(req, str(form.get("next", "")) if isinstance(form, dict) else "")
        try:
            self.pages.services.tokens.verify(f"Bearer {token}")
        except access.Unauthenticated as exc:
            self.pages.render(req, resp, "login.html", 401, title="Sign in", page="login", error=exc.message,
                              next=target)  # fmt: skip
            return
        secure = req.forwarded_scheme == "https" or self.pages.services.settings.public_url.startswith("https:")
        resp.set_cookie(
            SESSION_COOKIE, token, path=req.root_path or "/", secure=secure, http_only=True, same_site="Strict"
        )
        _see(resp, target)


class LogoutPage:
    open_to_all = True
    in_api = False

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        _only_from_this_site(req, self.public_url, "Sign out")
        resp.unset_cookie(SESSION_COOKIE, path=req.root_path or "/")
        _see(resp, f"{req.root_path}/ui/login")


def _only_from_this_site(req: falcon.Request, public_url: str, action: str) -> None:
    """Refuse a sign-in or sign-out posted by another site's page (login CSRF)."""
    if not same_site(req, public_url):
        raise falcon.HTTPForbidden(description=f"{action} from this registry's own pages.")


def _see(resp: falcon.Response, location: str) -> None:
    resp.status, resp.location = falcon.HTTP_303, location


def _local(req: falcon.Request, given: str | None = None) -> str:
    """Where to go after signing in: a page of the UI only (never another site)."""
    target = given if given is not None else req.get_param("next") or ""
    if not target.startswith(f"{req.root_path}/ui") or "//" in target or "\\" in target:
        return f"{req.root_path}/ui"
    return target


def add_pages(add: Callable[[str, Any], None], services: Services) -> None:
    pages = Pages(services)
    add("/ui", AssetsPage(pages))
    add("/ui/assets/{asset_id}", AssetPage(pages))
    add("/ui/upload", UploadPage(pages))
    add("/ui/buckets", BucketsPage(pages))
    add("/ui/sources", SourcesPage(pages))
    if services.settings.auth == "tokens":
        add("/ui/login", LoginPage(pages))
        add("/ui/logout", LogoutPage(services.settings.public_url))
