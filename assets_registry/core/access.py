"""Who is calling, and what they may do: scoped tokens (``Tokens``) and the acting principal.

A token has a name, a scope — ``read`` (queries, search, GraphQL, status, downloads),
``write`` (also creates, updates, deletes, uploads, buckets and sources) or ``admin`` (also
tokens, the audit trail, forced deletes) — and optionally the buckets it is limited to.
The secret is ``areg_<id>_<secret>``: the id finds the record, the secret is checked against
a keyed hash (HMAC-SHA256 under the registry's ``auth_key``) in constant time, and only the
hash is stored (in the ``CatalogStore``, kind ``tokens``). Every request looks its token up,
so a revoked or expired token fails at once in every process.

The HTTP layer runs each request ``acting_as`` its principal; ``Registry`` reads ``current()``
to hide the assets of buckets a limited token may not see (lists and search filtered, single
assets not found). Work with no principal (jobs, workers, the CLI's local commands) sees all.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from assets_registry.core.bucket_names import DEFAULT_BUCKET, bucket_name_problem, bucket_of_key
from assets_registry.core.catalog import CatalogStore
from assets_registry.core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    RecordChanged,
    RecordExists,
    RecordNotFound,
    RegistryError,
)

SCOPES = ("read", "write", "admin")
RESERVED_NAMES = frozenset({"anonymous", "system"})
_RANK = {scope: n for n, scope in enumerate(SCOPES)}
TOKEN_PREFIX = "areg_"
_TOKEN = re.compile(r"areg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A token's name (matched whole)."""
_TOUCH_SECONDS = 60.0
"""``last_used_at`` is written at most this often per token and process, not on every request."""


class Unauthenticated(RegistryError):
    """No usable token: missing, malformed, unknown, revoked or expired (HTTP 401)."""

    code = "unauthenticated"


class Forbidden(RegistryError):
    """The token is good but lacks the scope or the bucket (HTTP 403)."""

    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a token's name and scope, and the buckets it may touch (None: all)."""

    name: str
    scope: str
    buckets: frozenset[str] | None = None

    def allows(self, scope: str) -> bool:
        return _RANK[self.scope] >= _RANK[scope]

    def sees(self, bucket: str) -> bool:
        return self.buckets is None or bucket in self.buckets

    def require(self, scope: str) -> None:
        if not self.allows(scope):
            raise Forbidden(f"The token {self.name!r} has the {self.scope} scope; this needs {scope}.")

    def require_bucket(self, bucket: str) -> None:
        if not self.sees(bucket):
            allowed = ", ".join(sorted(self.buckets or ())) or "none"
            raise Forbidden(f"The token {self.name!r} may not touch the bucket {bucket!r} (only: {allowed}).")


ANYONE = Principal("anonymous", "admin")
"""With ``auth=off`` every request acts as this: no limits."""

_current: ContextVar[Principal | None] = ContextVar("assets_registry_principal", default=None)


def current() -> Principal | None:
    """The principal the running request acts as; None outside a request (no limits)."""
    return _current.get()


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)


def require_bucket(bucket: str) -> None:
    """``Forbidden`` unless the acting principal (if any) may touch the bucket."""
    principal = _current.get()
    if principal is not None:
        principal.require_bucket(bucket)


def limits() -> frozenset[str] | None:
    """The buckets the acting principal is limited to; None when it is not (or outside requests)."""
    principal = _current.get()
    return None if principal is None else principal.buckets


def require_scope(scope: str, doing: str) -> None:
    """``Forbidden`` unless the acting principal (if any) has ``scope`` for ``doing``."""
    principal = _current.get()
    if principal is not None and not principal.allows(scope):
        raise Forbidden(f"The token {principal.name!r} has the {principal.scope} scope; {doing} needs {scope}.")


def sees(bucket: str) -> bool:
    principal = _current.get()
    return principal is None or principal.sees(bucket)


_ANY_BUCKET_FOLDER = r"assets/b\.[a-z0-9-]+(~[0-9]+)?/"


def buckets_filter(buckets: frozenset[str]) -> dict[str, Any]:
    """A search filter matching the assets of these buckets, by the key part of their file URLs.

    The same rule as ``bucket_of_document`` but for URLs outside the store that merely look
    like a bucket's (those need the store to tell; ``Registry`` checks each answer again).
    """
    shapes: list[dict[str, Any]] = []
    for bucket in sorted(buckets):
        if bucket == DEFAULT_BUCKET:  # no file in any bucket's folder
            shapes.append({"files.asset_file_url": {"$not": {"$regex": _ANY_BUCKET_FOLDER}}})
        else:
            shapes.append({"files.asset_file_url": {"$regex": re.escape(f"assets/b.{bucket}") + "(~[0-9]+)?/"}})
    if not shapes:
        return {"asset_id": {"$in": []}}
    return shapes[0] if len(shapes) == 1 else {"$or": shapes}


def bucket_of_document(document: dict[str, Any], blob_key: Callable[[str], str | None] | None) -> str:
    """The bucket an asset lives in: that of its files' blobs (``assets/b.<name>/…``), else the default."""
    for entry in document.get("files") or []:
        key = blob_key(str(entry.get("asset_file_url", ""))) if blob_key else None
        if key and (name := bucket_of_key(key)):
            return name
    return DEFAULT_BUCKET


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("name", "scope", "buckets", "created_at", "expires_at", "last_used_at",
                                        "revoked_at")}  # fmt: skip


class Tokens:
    """Tokens issued, checked, listed and revoked; kept as catalog records of kind ``tokens``."""

    def __init__(
        self, catalog: CatalogStore, key: bytes, clock: Callable[[], float] = time.time, history: Any = None
    ) -> None:
        """``history``: a ``core.history.HistoryStore`` told of every token made and revoked."""
        self.catalog, self._key, self.clock, self.history = catalog, key, clock, history
        self._touched: dict[str, float] = {}

    def _digest(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def create(
        self, name: str, scope: str, buckets: tuple[str, ...] = (), expires_in: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        """A new token: its secret (shown this once) and its public record."""
        errors: list[FieldError] = []
        if not TOKEN_NAME.fullmatch(name):
            errors.append(FieldError("name", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -, starting with one"))
        if scope not in SCOPES:
            errors.append(FieldError("scope", f"must be one of {', '.join(SCOPES)}"))
        errors += [FieldError("buckets", f"{b!r} {problem}") for b in buckets if (problem := bucket_name_problem(b))]
        if expires_in is not None and expires_in <= 0:
            errors.append(FieldError("expires", "must be a positive duration"))
        if errors:
            raise InvalidInput("The token cannot be made: " + "; ".join(map(str, errors)) + ".", errors)
        if name in RESERVED_NAMES:
            raise InvalidInput(f"{name!r} names who acts without a token in the audit trail; choose another name.")
        if self._live(name) is not None:
            raise TokenExists(f"A token is already called {name!r}; revoke it first, or choose another name.")
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        token = f"{TOKEN_PREFIX}{token_id}_{secret}"
        now = self.clock()
        record = {
            "name": name,
            "scope": scope,
            "buckets": sorted(set(buckets)),
            "created_at": now,
            "expires_at": None if expires_in is None else now + expires_in,
            "last_used_at": None,
            "revoked_at": None,
            "digest": self._digest(token),
        }
        try:
            self.catalog.insert("tokens", token_id, record)
        except RecordExists:  # 64 random bits met an old id: vanishingly rare
            return self.create(name, scope, buckets, expires_in)
        self._note("token.created", record)
        return token, _public(record)

    def verify(self, presented: str | None) -> Principal:
        """The principal of an ``Authorization`` header's value; ``Unauthenticated`` saying why not."""
        if not presented:
            raise Unauthenticated("This registry needs a token: send Authorization: Bearer <token>.")
        scheme, _space, token = presented.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Send the token as Authorization: Bearer <token>.")
        parsed = _TOKEN.fullmatch(token)
        if parsed is None:
            raise Unauthenticated(f"That is not a token of this registry (they look like {TOKEN_PREFIX}…).")
        try:
            record = self.catalog.get("tokens", parsed.group(1)).document
        except RecordNotFound:
            raise Unauthenticated("The token is not known here.") from None
        if not hmac.compare_digest(str(record.get("digest", "")), self._digest(token)):
            raise Unauthenticated("The token is not known here.")
        now = self.clock()
        if record.get("revoked_at") is not None:
            raise Unauthenticated(f"The token {record['name']!r} was revoked.")
        if record.get("expires_at") is not None and now >= record["expires_at"]:
            raise Unauthenticated(f"The token {record['name']!r} has expired.")
        self._touch(parsed.group(1), now)
        buckets = frozenset(record.get("buckets") or ()) or None
        return Principal(str(record["name"]), str(record["scope"]), buckets)

    def _touch(self, token_id: str, now: float) -> None:
        if now - self._touched.get(token_id, 0.0) < _TOUCH_SECONDS:
            return
        self._touched[token_id] = now
        with contextlib.suppress(RegistryError):  # a busy store must not fail the request
            record = self.catalog.get("tokens", token_id)
            self.catalog.replace("tokens", token_id, {**record.document, "last_used_at": now}, record.version)

    def listing(self) -> list[dict[str, Any]]:
        """Every token's public record (never its secret or hash), in creation order."""
        return sorted((_public(r.document) for r in self._all()), key=lambda r: r["created_at"])

    def revoke(self, name: str) -> dict[str, Any]:
        """Revoke every live token of this name (two made at once may share it); ``TokenNotFound`` if none."""
        revoked: dict[str, Any] | None = None
        while (found := self._live(name)) is not None:
            token_id, record = found
            revoked = {**record.document, "revoked_at": self.clock()}
            with contextlib.suppress(RecordChanged):  # its last use was being noted: read it again
                self.catalog.replace("tokens", token_id, revoked, record.version)
                self._note("token.revoked", revoked)
        if revoked is None:
            raise TokenNotFound(f"No live token is called {name!r}.")
        return _public(revoked)

    def _note(self, action: str, record: dict[str, Any]) -> None:
        from assets_registry.core.history import note  # core.history imports this module

        about = {k: record[k] for k in ("name", "scope", "buckets", "expires_at")}
        note(self.history, action, detail=about)

    def _all(self) -> Iterator[Any]:
        after: str | None = None
        while page := self.catalog.records("tokens", 500, after):
            yield from page
            after = page[-1].key

    def _live(self, name: str) -> tuple[str, Any] | None:
        for record in self._all():
            if record.document.get("name") == name and record.document.get("revoked_at") is None:
                return record.key, record
        return None


class TokenExists(Conflict):
    code = "token_exists"


class TokenNotFound(NotFound):
    code = "token_not_found"


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``45m``, ``90s`` (or plain seconds) as seconds; ``InvalidInput`` otherwise."""
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*", text)
    if found is None:
        raise InvalidInput(f"{text!r} is not a duration such as 30d, 12h, 45m or 90s.")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[found.group(2)]
    return float(found.group(1)) * unit
