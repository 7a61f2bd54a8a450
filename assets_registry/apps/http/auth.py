"""Who may call which route: the ``Authentication`` middleware and the ``/tokens`` routes.

With ``auth=off`` every request acts as ``ANYONE``. With ``auth=tokens`` every route but
``/healthz`` and ``/readyz`` needs ``Authorization: Bearer <token>``:

- ``read``: ``GET``/``HEAD`` everywhere, ``POST /query/search`` and ``/graphql``;
- ``write``: every other method (create, update, delete, uploads, buckets, sources);
- ``admin``: ``/tokens``, ``/audit`` (both only without bucket limits) and any
  ``DELETE …?force=true``.

A missing, malformed, unknown, revoked or expired token is 401 with ``WWW-Authenticate:
Bearer realm="assets-registry"``; a scope or bucket the token lacks is 403 naming it. The ZIP
download of an asset in a ``readonly`` or ``readwrite`` bucket needs no token. The request
then runs ``acting_as`` its principal, which ``Registry`` and ``AssetStore`` read to keep a
bucket-limited token to its buckets.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import falcon

from assets_registry.apps.http.bodies import read_json, send_json
from assets_registry.core import access
from assets_registry.core.access import ANYONE, Forbidden, Principal, Tokens, parse_duration
from assets_registry.core.errors import InvalidInput, NotFound
from assets_registry.core.registry import Registry
from assets_registry.core.sources import AssetStore
from assets_registry.core.sources.asset_store import PUBLIC_POLICIES

_READS = ("GET", "HEAD", "OPTIONS")
SESSION_COOKIE = "assets_registry_token"
"""The web UI's session: the token a browser signed in with (``apps.http.ui``), HttpOnly and
SameSite=Strict. Taken like an ``Authorization`` header on reads; on a write only from a page of
this same site (its ``Origin``), so another site cannot make a signed-in browser change anything."""


def same_site(req: falcon.Request, public_url: str = "") -> bool:
    """The request comes from a page of this registry: its ``Origin`` is this host (as the client
    reached it, or as ``public_url`` names it behind a proxy)."""
    origin = urlsplit(req.get_header("Origin") or "").netloc
    return bool(origin) and origin in (req.netloc, urlsplit(public_url).netloc)


def required_scope(req: falcon.Request, resource: Any) -> str | None:
    """The scope a request needs (None: open to everyone)."""
    if getattr(resource, "open_to_all", False):
        return None
    if getattr(resource, "is_page", None) is not None and resource.is_page(req):
        return None  # a page without data (GraphiQL's): its queries need the token
    if getattr(resource, "admin_only", False):
        return "admin"
    if req.method == "DELETE" and req.get_param_as_bool("force"):
        return "admin"
    if req.method in _READS or req.method in getattr(resource, "read_methods", ()):
        return "read"
    return "write"


class Authentication:
    """Falcon middleware: the principal of every request, checked against the route's scope."""

    def __init__(self, tokens: Tokens | None, registry: Registry, store: AssetStore, public_url: str = "") -> None:
        self.tokens, self.registry, self.store, self.public_url = tokens, registry, store, public_url

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None:
            return
        scope = required_scope(req, resource)
        if scope is None:
            return
        try:
            principal = ANYONE if self.tokens is None else self._principal(req, resource, params)
        except access.Unauthenticated:
            if not getattr(resource, "sign_in_page", False):
                raise
            resp.status, resp.complete = falcon.HTTP_303, True  # a browser: to the sign-in page, and back
            resp.location = f"{req.root_path}/ui/login?{urlencode({'next': req.relative_uri})}"
            return
        principal.require(scope)
        if getattr(resource, "admin_only", False) and principal.buckets is not None:
            raise Forbidden(
                f"The token {principal.name!r} is limited to some buckets; tokens and the audit trail "
                "are for admin tokens without bucket limits."
            )
        acting = access.acting_as(principal)
        acting.__enter__()
        req.context.principal, req.context.acting = principal, acting

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool) -> None:
        acting = getattr(req.context, "acting", None)
        if acting is not None:
            req.context.acting = None
            acting.__exit__(None, None, None)

    def _principal(self, req: falcon.Request, resource: Any, params: dict[str, Any]) -> Principal:
        assert self.tokens is not None
        header = req.get_header("Authorization")
        if header is None and (session := self._session(req)) is not None:
            try:
                return self.tokens.verify(session)
            except access.Unauthenticated:
                if not getattr(resource, "public_in_readable_buckets", False):
                    raise  # (a stale session still downloads what anyone may)
        if header is None and getattr(resource, "public_in_readable_buckets", False) and req.method in _READS:
            bucket = self._readable_bucket(params.get("asset_id"))
            if bucket is not None:
                return Principal("anonymous", "read", frozenset({bucket}))
        return self.tokens.verify(header)

    def _session(self, req: falcon.Request) -> str | None:
        """The UI's session cookie as an ``Authorization`` value, where it may stand for one."""
        token = req.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        if req.method not in _READS and not same_site(req, self.public_url):
            return None  # a write from another site (or an old browser that sends no Origin)
        return f"Bearer {token}"

    def _readable_bucket(self, asset_id: str | None) -> str | None:
        """The asset's bucket if its policy lets anyone read it."""
        if not asset_id:
            return None
        try:
            document = self.registry.get(asset_id).document  # no principal yet: sees every asset
            bucket = access.bucket_of_document(document, self.registry.blob_key)
            policy = self.store.catalog.get("buckets", bucket).document.get("policy")
        except NotFound:
            return None
        return bucket if policy in PUBLIC_POLICIES else None


class TokensResource:
    """``GET /tokens`` (every token's public record), ``POST /tokens`` (a new one, its secret once)."""

    admin_only = True

    def __init__(self, tokens: Tokens, max_body: int) -> None:
        self.tokens, self.max_body = tokens, max_body

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, self.tokens.listing())

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, self.max_body)
        if not isinstance(body, dict):
            raise InvalidInput('A token is a JSON object: {"name", "scope", "buckets": [...], "expires": "30d"}.')
        unknown = sorted(set(body) - {"name", "scope", "buckets", "expires"})
        if unknown:
            raise InvalidInput(f"{unknown[0]!r} is not a field of a token (name, scope, buckets, expires).")
        expires = body.get("expires")
        if isinstance(expires, bool) or (expires is not None and not isinstance(expires, str | int | float)):
            raise InvalidInput('"expires" is a duration such as "30d" or a number of seconds.')
        buckets = body.get("buckets")
        buckets = [] if buckets is None else buckets
        if not isinstance(buckets, list) or not all(isinstance(b, str) for b in buckets):
            raise InvalidInput('"buckets" is a list of bucket names.')
        name, scope = body.get("name", ""), body.get("scope", "")
        if not isinstance(name, str) or not isinstance(scope, str):
            raise InvalidInput('"name" and "scope" are strings, such as {"name": "ci", "scope": "read"}.')
        seconds = parse_duration(expires) if isinstance(expires, str) else None if expires is None else float(expires)
        secret, record = self.tokens.create(name, scope, tuple(buckets), seconds)
        resp.location = f"/tokens/{record['name']}"
        send_json(resp, {**record, "token": secret}, 201)


class TokenResource:
    """``DELETE /tokens/{name}``: revoke it; every process refuses it from its next request."""

    admin_only = True

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    def on_delete(self, req: falcon.Request, resp: falcon.Response, token_name: str) -> None:
        send_json(resp, self.tokens.revoke(token_name))
